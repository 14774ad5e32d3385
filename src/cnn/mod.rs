//! The companion CNN: layers, losses, optimisers, the training loop, and first-layer filter
//! logging.
