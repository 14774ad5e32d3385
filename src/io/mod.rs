//! File formats: `.npy` arrays, JSON provenance sidecars, CSV tables, atomic writes, the
//! checkpoint container, and the readers for images and the CNN datasets (CIFAR-10 binary,
//! MNIST IDX).

pub mod atomic;
pub mod checkpoint;
pub mod cifar;
pub mod idx;
pub mod image_folder;
pub mod images;
pub mod labelled;
pub mod npy;
pub mod sidecar;
pub mod table;
