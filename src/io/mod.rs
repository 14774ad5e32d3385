//! File formats: `.npy` arrays, JSON sidecars, CSV tables, atomic writes, and the readers
//! for images and the CNN datasets (CIFAR-10 binary, MNIST IDX).

pub mod atomic;
pub mod cifar;
pub mod idx;
pub mod image_folder;
pub mod images;
pub mod labelled;
pub mod npy;
pub mod sidecar;
pub mod table;
