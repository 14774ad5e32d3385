//! Patch datasets from images: loading, luminance, whitening (Olshausen-Field 1/f filter or
//! ZCA), sampling with DC removal, and the built-in dead-leaves image generator.
