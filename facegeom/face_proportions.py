"""Measured proportions that calibrate the procedural face to real faces (millimetres).

The figures are anthropometric summaries measured once on the mean 68 iBUG landmarks of
the Basel Face Model (3DDFA's ``u_base``, micrometres, same axes as ours: x to the image
right of a frontal face, y up, z towards the camera), scaled by 1 / 1.039 to the size of
the procedural face (the similarity scale between the two landmark sets).  They are
written here as rounded constants; nothing is read from the BFM files when the model is
built.  ``tests/facegeom/test_procedural_geometry.py`` measures the result against the
real data when it is present.
"""

from __future__ import annotations

# Depth (mm) of jaw-contour points 0..8 (image-left half, ear to chin) behind the nose
# tip (point 30): the BFM mean's z[30] - z[k] / 1.039, rounded to 0.5 mm.  The jaw points
# at the ear are 110 mm behind the tip (depth / width of the 68 points: 0.78).
JAW_DEPTH_BEHIND_NOSE_TIP = (110.0, 107.5, 106.0, 102.0, 93.5, 78.0, 58.5, 41.0, 34.5)
# How far (mm) inside the frontal silhouette a jaw point may sit, by jaw point 0..8: the
# contour of the cheek is a few mm inside the outline; the chin points lie on the front of
# the chin, up to 8 mm above the lowest outline of the jaw.
JAW_SILHOUETTE_TOLERANCE = (3.0, 3.0, 3.0, 3.0, 3.0, 4.0, 8.0, 8.0, 8.0)

# Depth corrections of the feature layers, measured as the depth error (mm, along z) at
# the landmarks under them of the uncalibrated face after similarity alignment to the BFM
# mean: (what, frontal centre (x, y) of the image-left one, sigma (sx, sy), amplitude mm;
# positive brings the surface towards the viewer).  Pairs are mirrored to x > 0; centres
# on the midline are single bumps.
DEPTH_CORRECTIONS = (
    ("lateral_brow", (-53.0, 17.0), (11.0, 7.0), 8.5),    # brow points 17-19 sat 4.5-8 mm deep
    ("mid_brow", (-30.0, 20.0), (8.0, 5.0), 3.0),          # brow points 19-20 sat 3 mm deep
    ("outer_upper_lid", (-38.0, 3.5), (4.0, 4.0), 4.0),   # point 37 sat 5 mm deep
    ("inner_canthus", (-19.0, 0.0), (4.0, 4.0), -4.0),    # point 39 stood 4 mm proud
    ("lip_contact", (0.0, -67.0), (20.0, 4.0), -4.0),     # inner lip points 60-67 stood 4-6 mm proud
    ("upper_lip_centre", (0.0, -58.0), (6.0, 3.0), 3.0),  # point 51 sat 3.4 mm deep
)

# Identity spread.  The largest identity variation of real faces at the 68 landmarks is
# their overall size: BFM's top landmark principal direction is 96 % a uniform scaling
# about the landmark centroid and carries 51 % of the identity variance (3DDFA's 300W-LP
# coefficient stds; 244 mm^2 of 475 mm^2 in all, i.e. 21.8 mm rms over the 68 points).
# FACE_SIZE_CENTRE is the centroid of the procedural face's 68 landmarks (face frame, mm);
# FACE_SIZE_MM the size (largest vertex displacement, mm, at one std) of the scaling, and
# ID_SPREAD the factor on the sizes of the other named identity fields, both set so that
# the landmark variance of the procedural identity basis matches those figures.
FACE_SIZE_CENTRE = (0.0, -38.0, -8.0)
FACE_SIZE_MM = 5.5
ID_SPREAD = 0.45
