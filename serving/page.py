"""The upload page served at ``GET /``: pick a photo, see its 68 landmarks and head pose drawn.

Plain HTML + JavaScript (no external assets): it posts the file to ``/v1/align`` and draws
the answer on a canvas; the model line shows ``/v1/model``'s ``headline_nme`` label (the
real-face NME and its data when measured, else the synthetic test-set NME);
``canvas[data-points]`` counts the points drawn and ``body[data-state]`` becomes ``done``
(or ``error``) when the answer is drawn.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>facealign</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem;
         color: #222; }
  fieldset { border: 1px solid #ccc; border-radius: 6px; padding: 1rem; }
  label { margin-right: 1rem; }
  #canvas { max-width: 100%; border: 1px solid #ddd; margin-top: 1rem; }
  #status { font-weight: 600; margin-top: .5rem; }
  .error { color: #b00020; }
  pre { background: #f6f6f6; padding: .5rem; overflow: auto; max-height: 14rem; font-size: .8rem; }
  small { color: #666; }
</style>
</head>
<body>
<h1>facealign</h1>
<p>Upload a photo: the service finds the face (or uses your box), and draws its 68 landmarks
(green visible, red self-occluded) and head pose.</p>
<p><small id="model">model: ...</small></p>
<fieldset>
  <label>Photo <input type="file" id="file" accept="image/*"></label>
  <label>Box (optional) <input type="text" id="box" placeholder="x0,y0,x1,y1" size="18"></label>
</fieldset>
<div id="status">Choose a photo.</div>
<canvas id="canvas" width="1" height="1" data-points="0"></canvas>
<div id="pose"></div>
<pre id="result"></pre>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const deg = Math.PI / 180;

fetch("/v1/model").then((r) => r.json()).then((m) => {  // real-face NME first, with its data
  const nme = m.headline_nme ? m.headline_nme.label : "NME not measured";
  $("model").textContent = `model: ${m.name || m.spec} v${m.version ?? "-"}` +
    (m.alias ? ` (@${m.alias})` : "") + ` family ${m.family ?? "?"}, ${nme}`;
  $("model").title = m.real_nme_mean != null && m.nme_mean != null ?
    `synthetic test-set NME ${m.nme_mean.toFixed(2)} %` : "";
}).catch(() => {});

function loadImage(file) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot display this file"));
    img.src = URL.createObjectURL(file);
  });
}

function rotation(pitch, yaw, roll) {  // R = Rz(roll) Ry(yaw) Rx(pitch), model y up
  const [cp, sp, cy, sy, cr, sr] = [Math.cos(pitch), Math.sin(pitch), Math.cos(yaw), Math.sin(yaw),
                                    Math.cos(roll), Math.sin(roll)];
  const rx = [[1, 0, 0], [0, cp, -sp], [0, sp, cp]];
  const ry = [[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]];
  const rz = [[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]];
  const mul = (a, b) => a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
  return mul(rz, mul(ry, rx));
}

function draw(img, faces) {
  const canvas = $("canvas"), ctx = canvas.getContext("2d");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  ctx.drawImage(img, 0, 0);
  const r = Math.max(1.5, Math.min(canvas.width, canvas.height) / 220);
  let points = 0;
  const poses = [];
  for (const face of faces) {
    const [x0, y0, x1, y1] = face.box;
    ctx.strokeStyle = "#00b4ff"; ctx.lineWidth = r * 0.8;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    const p = face.pose, R = rotation(p.pitch * deg, p.yaw * deg, p.roll * deg);
    const [nx, ny] = face.landmarks[30], len = 0.5 * (x1 - x0);
    [["#ff9100", 0], ["#ffea00", 1], ["#2979ff", 2]].forEach(([color, axis]) => {
      ctx.strokeStyle = color; ctx.lineWidth = r;
      ctx.beginPath(); ctx.moveTo(nx, ny);
      ctx.lineTo(nx + len * R[0][axis], ny - len * R[1][axis]); ctx.stroke();
    });
    face.landmarks.forEach(([x, y], i) => {  // dots last: nothing covers them
      ctx.fillStyle = face.visible[i] ? "#00e676" : "#ff1744";
      ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI); ctx.fill();
      points += 1;
    });
    poses.push(`yaw ${p.yaw.toFixed(1)}°, pitch ${p.pitch.toFixed(1)}°, roll ${p.roll.toFixed(1)}°`);
  }
  canvas.dataset.points = String(points);
  $("pose").textContent = poses.join(" | ");
  return points;
}

async function align() {
  const file = $("file").files[0];
  if (!file) return;
  const status = $("status");
  status.className = ""; status.textContent = "Aligning...";
  document.body.dataset.state = "busy";
  try {
    const form = new FormData();
    form.append("image", file, file.name);
    if ($("box").value.trim()) form.append("box", $("box").value.trim());
    const [img, response] = await Promise.all([
      loadImage(file), fetch("/v1/align", {method: "POST", body: form})]);
    const body = await response.json();
    $("result").textContent = JSON.stringify(body, null, 1);
    if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
    const points = draw(img, body.faces);
    status.textContent = `done: ${body.faces.length} face(s), ${points} points`;
    document.body.dataset.state = "done";
  } catch (err) {
    status.className = "error"; status.textContent = `error: ${err.message}`;
    document.body.dataset.state = "error";
  }
}
$("file").addEventListener("change", align);
$("box").addEventListener("change", align);
</script>
</body>
</html>
"""
