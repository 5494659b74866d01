"""Put the appearance effects together around the face renderer.

:func:`render_face <facealign.data.render_face.render_face>` calls, for a sample with a
:class:`~facealign.data.scene.Look`:

1. :func:`relight` before shading: scalp hair albedo, hard light, specular highlights;
2. :func:`compose` on the supersampled canvas: clutter, body and hair mass behind the face,
   skin detail, eyes and mouth on it, then occluders in front (their alpha is returned);
3. :func:`finish` on the output image: tone (grayscale, sepia, cast), blur, low resolution,
   noise and JPEG.

Canvas and images are float32 RGB in [0, 1], (rows, cols) = (y down, x right).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from facealign.data import body, eyes, hair, occluders, photo_effects, skin
from facealign.data.appearance import Appearance
from facealign.data.backgrounds import paint_clutter
from facealign.data.scene import Look, Scene


def hair_style(look: Look, shape: np.ndarray) -> tuple[dict, np.ndarray]:
    """The sample's hairstyle and its (N,) scalp weight (zeros when bald); cached on ``look``."""
    if "hair" not in look.cache:
        rng = look.cache["hair_rng"] = look.rng("hair")
        style = hair.sample_hair(rng)
        weight = hair.scalp_weight(shape, style) if look.on["hair"] else np.zeros(len(shape))
        look.cache["hair"] = (style, weight)
    return look.cache["hair"]


def relight(look: Look, appearance: Appearance, shape: np.ndarray,
            normals_cam: np.ndarray) -> tuple[Appearance, np.ndarray]:
    """The appearance to shade with and an additive (N, 3) specular term (or zeros)."""
    on = look.on
    if on["hair"]:
        style, weight = hair_style(look, shape)
        albedo = hair.hair_albedo(appearance.albedo, weight, style["colour"], look.cache["hair_rng"])
        appearance = dataclasses.replace(appearance, albedo=albedo)
    if on["hard_light"]:
        r = look.rng("hard_light")
        d = np.array([r.choice([-1, 1]) * r.uniform(0.6, 1.0), r.uniform(-0.3, 0.8), r.uniform(0.1, 0.6)])
        appearance = dataclasses.replace(appearance, light_dir=d / np.linalg.norm(d),
                                         ambient=float(r.uniform(0.03, 0.15)),
                                         diffuse=float(r.uniform(0.8, 1.1)))
    spec = np.zeros((len(shape), 3), np.float32)
    if on["specular"]:
        spec = skin.specular(normals_cam, appearance.light_dir, appearance.light_color,
                             look.rng("specular"))
    return appearance, spec


def make_scene(model, shape, pose, verts, raster, visible, appearance: Appearance,
               skin_albedo: np.ndarray) -> Scene:
    """The :class:`Scene` of a canvas render (``pose`` already maps to the canvas)."""
    light = appearance.ambient + 0.7 * appearance.diffuse * float(np.mean(appearance.light_color))
    return Scene(model=model, shape=shape, pose=pose, verts=verts, depth=raster.depth,
                 mask=raster.triangle >= 0, visible=visible, skin=skin_albedo, light=float(light))


def compose(look: Look, scene: Scene, face: np.ndarray, background: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) canvas and (H, W) occluder alpha from the face layer and the background."""
    on, r = look.on, look.rng
    canvas = paint_clutter(background, r("clutter")) if on["clutter"] else background.copy()
    if on["body"]:
        body.paint_body(canvas, scene, r("body"))
    style, weight = hair_style(look, scene.shape)
    if on["hair"]:
        hair.paint_mass(canvas, scene, style, weight, on["long_hair"], look.cache["hair_rng"])
    face = face.copy()
    if on["skin_detail"]:
        skin.paint_skin_detail(face, scene, r("skin_detail"))
    if on["eyes"]:
        eyes.paint_eyes(face, scene, r("eyes"))
    if on["mouth"]:
        eyes.paint_mouth(face, scene, r("mouth"))
    m = scene.mask[..., None].astype(np.float32)
    canvas = face * m + canvas * (1 - m)
    occlusion = np.zeros(scene.mask.shape, np.float32)
    if on["hair"] and on["fringe"]:
        hair.paint_fringe(canvas, occlusion, scene, style, weight, r("fringe"))
    if on["hat"]:
        occluders.paint_hat(canvas, occlusion, scene, r("hat"))
    if on["glasses"]:
        occluders.paint_glasses(canvas, occlusion, scene, on["sunglasses"], r("glasses"))
    if on["face_strands"]:
        hair.paint_strands(canvas, occlusion, scene, style["colour"], r("face_strands"))
    if on["hand"]:
        occluders.paint_hand(canvas, occlusion, scene, r("hand"))
    if on["cast_shadow"]:
        rs = r("cast_shadow")
        canvas = photo_effects.cast_shadow(canvas, rs.uniform(*look.settings.shadow_strength), rs)
    return canvas, occlusion


def finish(look: Look, image: np.ndarray) -> np.ndarray:
    """Tone and degrade the output image (S, S, 3) like a photo or a print."""
    image = photo_effects.tone(image, look.on, look.rng("colour_cast"))
    rngs = {k: look.rng(k) for k in ("blur", "low_res", "noise", "jpeg") if look.on[k]}
    return photo_effects.degrade(image, look.on, look.settings, rngs)
