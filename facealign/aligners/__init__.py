"""Aligners: the mean-shape baseline, the cascade CNN and DFF/SIFT-SDM behind one interface."""
