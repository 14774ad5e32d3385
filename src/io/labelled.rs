//! A set of labelled 8-bit images in memory, the common result of the CNN dataset readers
//! (CIFAR-10 binary, MNIST IDX, image folders). Pixels are kept as bytes in NHWC order
//! (image, row, column, channel) so a dataset costs one byte per value; the CNN standardises
//! them as it assembles each batch.

/// Labelled images of one size: `pixels` holds `len() * height * width * channels` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledImages {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u16>,
    /// One name per class; a label is an index into this list.
    pub class_names: Vec<String>,
}

impl LabelledImages {
    /// An empty set of images of the given size.
    pub fn empty(height: usize, width: usize, channels: usize, class_names: Vec<String>) -> Self {
        Self {
            height,
            width,
            channels,
            pixels: Vec::new(),
            labels: Vec::new(),
            class_names,
        }
    }

    /// Values per image.
    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// A new set holding the images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        let n = self.image_len();
        let mut pixels = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Self {
            height: self.height,
            width: self.width,
            channels: self.channels,
            pixels,
            labels,
            class_names: self.class_names.clone(),
        }
    }

    /// Appends the images of `other`, which must have the same size.
    pub fn append(&mut self, other: &LabelledImages) {
        debug_assert_eq!(self.image_len(), other.image_len());
        self.pixels.extend_from_slice(&other.pixels);
        self.labels.extend_from_slice(&other.labels);
    }

    /// Converts colour images to one luma channel (ITU-R BT.601 weights, as PIL's "L" mode
    /// and torchvision's Grayscale use); grayscale images are returned unchanged.
    pub fn to_grayscale(&self) -> Self {
        if self.channels == 1 {
            return self.clone();
        }
        let c = self.channels;
        let pixels = self
            .pixels
            .chunks_exact(c)
            .map(|p| {
                let y = 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
                y.round().clamp(0.0, 255.0) as u8
            })
            .collect();
        Self {
            height: self.height,
            width: self.width,
            channels: 1,
            pixels,
            labels: self.labels.clone(),
            class_names: self.class_names.clone(),
        }
    }
}
