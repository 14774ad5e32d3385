//! The network description and its parameters. A network is a sequence of layers on NHWC
//! tensors; [`NetSpec::reference`] builds the default (the reference net of the speed
//! comparison, optionally with batch norm, dropout and a hidden linear layer). Parameters
//! live in one list of flat `Vec<f32>` so optimisers and checkpoints treat them uniformly.
//!
//! Weight layouts: a convolution's weights are (filters, ky, kx, channels) row-major, the
//! order of the im2col columns; on disk the first layer is written as PyTorch's
//! (filters, channels, k, k) by [`Network::conv1_bank`]. A linear layer's weights are
//! (outputs, inputs) row-major, inputs in NHWC order.

use super::kernels::ConvGeometry;
use serde::{Deserialize, Serialize};

/// The size of one sample's tensor: height x width x channels (a vector is 1 x 1 x n).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl Shape {
    pub fn len(&self) -> usize {
        self.height * self.width * self.channels
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One layer of the network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LayerSpec {
    Conv {
        filters: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    },
    Relu,
    /// 2x2 max pooling, stride 2.
    MaxPool,
    /// Batch normalisation over every axis but the channel (PyTorch's BatchNorm2d, or
    /// BatchNorm1d after a linear layer), with running statistics for evaluation.
    BatchNorm,
    /// Inverted dropout: zeroes each value with probability `p` while training.
    Dropout {
        p: f32,
    },
    Linear {
        outputs: usize,
    },
}

/// A whole network: input shape, classes and layers (the last layer outputs the classes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetSpec {
    pub input: Shape,
    pub layers: Vec<LayerSpec>,
}

/// Options of the reference architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceOptions {
    pub conv1_filters: usize,
    pub conv1_kernel: usize,
    pub conv1_stride: usize,
    pub conv2_filters: usize,
    pub batch_norm: bool,
    /// Dropout before the classifier (and after the hidden layer); 0 disables it.
    pub dropout: f32,
    /// Width of an optional hidden linear layer (with ReLU) before the classifier.
    pub hidden: Option<usize>,
}

impl Default for ReferenceOptions {
    fn default() -> Self {
        Self {
            conv1_filters: 32,
            conv1_kernel: 5,
            conv1_stride: 1,
            conv2_filters: 64,
            batch_norm: false,
            dropout: 0.0,
            hidden: None,
        }
    }
}

impl NetSpec {
    /// conv k x k (pad k/2) [-> BN] -> ReLU -> max-pool -> conv 5x5 (pad 2) [-> BN] -> ReLU
    /// -> max-pool [-> linear hidden -> ReLU] [-> dropout] -> linear to `classes`.
    pub fn reference(input: Shape, classes: usize, o: &ReferenceOptions) -> Self {
        let mut layers = vec![LayerSpec::Conv {
            filters: o.conv1_filters,
            kernel: o.conv1_kernel,
            stride: o.conv1_stride,
            pad: o.conv1_kernel / 2,
        }];
        if o.batch_norm {
            layers.push(LayerSpec::BatchNorm);
        }
        layers.extend([
            LayerSpec::Relu,
            LayerSpec::MaxPool,
            LayerSpec::Conv {
                filters: o.conv2_filters,
                kernel: 5,
                stride: 1,
                pad: 2,
            },
        ]);
        if o.batch_norm {
            layers.push(LayerSpec::BatchNorm);
        }
        layers.extend([LayerSpec::Relu, LayerSpec::MaxPool]);
        if let Some(h) = o.hidden {
            layers.push(LayerSpec::Linear { outputs: h });
            layers.extend([LayerSpec::Relu]);
        }
        if o.dropout > 0.0 {
            layers.push(LayerSpec::Dropout { p: o.dropout });
        }
        layers.push(LayerSpec::Linear { outputs: classes });
        Self { input, layers }
    }

    /// The shape after each layer (`shapes[0]` is the input), or a message naming the first
    /// layer whose input is too small.
    pub fn shapes(&self) -> Result<Vec<Shape>, String> {
        let mut shapes = vec![self.input];
        for (i, layer) in self.layers.iter().enumerate() {
            let s = *shapes.last().expect("input shape");
            let next = match *layer {
                LayerSpec::Conv {
                    filters,
                    kernel,
                    stride,
                    pad,
                } => {
                    if kernel == 0 || stride == 0 || filters == 0 {
                        return Err(format!(
                            "layer {i}: kernel, stride and filters must be positive"
                        ));
                    }
                    if s.height + 2 * pad < kernel || s.width + 2 * pad < kernel {
                        return Err(format!(
                            "layer {i}: a {kernel}x{kernel} kernel does not fit a {}x{} input with padding {pad}",
                            s.height, s.width
                        ));
                    }
                    let g = ConvGeometry {
                        height: s.height,
                        width: s.width,
                        channels: s.channels,
                        kernel,
                        stride,
                        pad,
                    };
                    Shape {
                        height: g.out_height(),
                        width: g.out_width(),
                        channels: filters,
                    }
                }
                LayerSpec::MaxPool => {
                    if s.height < 2 || s.width < 2 {
                        return Err(format!(
                            "layer {i}: max-pooling needs at least 2x2, got {}x{}",
                            s.height, s.width
                        ));
                    }
                    Shape {
                        height: s.height / 2,
                        width: s.width / 2,
                        channels: s.channels,
                    }
                }
                LayerSpec::Relu | LayerSpec::BatchNorm | LayerSpec::Dropout { .. } => s,
                LayerSpec::Linear { outputs } => Shape {
                    height: 1,
                    width: 1,
                    channels: outputs,
                },
            };
            shapes.push(next);
        }
        Ok(shapes)
    }

    /// Number of classes (width of the last layer's output).
    pub fn outputs(&self) -> usize {
        self.shapes()
            .ok()
            .and_then(|s| s.last().copied())
            .map_or(0, |s| s.len())
    }

    /// Index of the first convolution, if any.
    pub fn first_conv(&self) -> Option<usize> {
        self.layers
            .iter()
            .position(|l| matches!(l, LayerSpec::Conv { .. }))
    }

    /// Layer indices of the convolutions, in order (conv1, conv2, ...).
    pub fn conv_layers(&self) -> Vec<usize> {
        self.layers
            .iter()
            .enumerate()
            .filter(|(_, l)| matches!(l, LayerSpec::Conv { .. }))
            .map(|(i, _)| i)
            .collect()
    }
}

/// What a parameter tensor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// Conv or linear weights: L2 weight decay applies.
    Weight,
    /// Biases and batch-norm scale/shift: no weight decay (the usual practice).
    Bias,
}

/// A parameter tensor's place in the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamInfo {
    pub layer: usize,
    pub kind: ParamKind,
    pub len: usize,
}

/// A network with its parameters. `params[i]` is described by `info[i]`; `running[l]`
/// holds a batch-norm layer's running mean then running variance (empty for other layers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub spec: NetSpec,
    pub shapes: Vec<Shape>,
    pub info: Vec<ParamInfo>,
    /// For each layer, the index of its first parameter tensor in `params`, if it has any.
    pub first_param: Vec<Option<usize>>,
    pub params: Vec<Vec<f32>>,
    pub running: Vec<Vec<f32>>,
}

impl Network {
    /// Allocates a network with zero weights, unit batch-norm scales and running variances.
    pub fn new(spec: NetSpec) -> Result<Self, String> {
        let shapes = spec.shapes()?;
        let mut info = Vec::new();
        let mut first_param = Vec::new();
        let mut params = Vec::new();
        let mut running = Vec::new();
        for (l, layer) in spec.layers.iter().enumerate() {
            let (inp, out) = (shapes[l], shapes[l + 1]);
            let tensors: Vec<(ParamKind, usize, f32)> = match *layer {
                LayerSpec::Conv {
                    filters, kernel, ..
                } => vec![
                    (
                        ParamKind::Weight,
                        filters * kernel * kernel * inp.channels,
                        0.0,
                    ),
                    (ParamKind::Bias, filters, 0.0),
                ],
                LayerSpec::Linear { outputs } => vec![
                    (ParamKind::Weight, outputs * inp.len(), 0.0),
                    (ParamKind::Bias, outputs, 0.0),
                ],
                LayerSpec::BatchNorm => vec![
                    (ParamKind::Bias, out.channels, 1.0),
                    (ParamKind::Bias, out.channels, 0.0),
                ],
                _ => vec![],
            };
            first_param.push((!tensors.is_empty()).then_some(params.len()));
            for (kind, len, fill) in tensors {
                info.push(ParamInfo {
                    layer: l,
                    kind,
                    len,
                });
                params.push(vec![fill; len]);
            }
            running.push(if matches!(layer, LayerSpec::BatchNorm) {
                let c = out.channels;
                let mut r = vec![0.0; 2 * c];
                r[c..].fill(1.0);
                r
            } else {
                Vec::new()
            });
        }
        Ok(Self {
            spec,
            shapes,
            info,
            first_param,
            params,
            running,
        })
    }

    /// Number of trainable values.
    pub fn parameter_count(&self) -> usize {
        self.params.iter().map(Vec::len).sum()
    }

    /// Fan-in and fan-out of a weighted layer (PyTorch's definition for conv: channels x k x k).
    pub fn fans(&self, layer: usize) -> (usize, usize) {
        let inp = self.shapes[layer];
        match self.spec.layers[layer] {
            LayerSpec::Conv {
                filters, kernel, ..
            } => (inp.channels * kernel * kernel, filters * kernel * kernel),
            LayerSpec::Linear { outputs } => (inp.len(), outputs),
            _ => (0, 0),
        }
    }

    /// Conv geometry of layer `l` (which must be a convolution).
    pub fn geometry(&self, l: usize) -> ConvGeometry {
        let s = self.shapes[l];
        match self.spec.layers[l] {
            LayerSpec::Conv {
                kernel,
                stride,
                pad,
                ..
            } => ConvGeometry {
                height: s.height,
                width: s.width,
                channels: s.channels,
                kernel,
                stride,
                pad,
            },
            _ => panic!("layer {l} is not a convolution"),
        }
    }

    /// The weights of convolution layer `l` as PyTorch's (filters, channels, k, k),
    /// with that shape.
    pub fn conv_bank(&self, l: usize) -> (Vec<usize>, Vec<f32>) {
        let g = self.geometry(l);
        let w = &self.params[self.first_param[l].expect("conv has weights")];
        let (k, c) = (g.kernel, g.channels);
        let f = w.len() / (k * k * c);
        let mut out = vec![0.0; w.len()];
        for fi in 0..f {
            for y in 0..k {
                for x in 0..k {
                    for ci in 0..c {
                        out[((fi * c + ci) * k + y) * k + x] = w[((fi * k + y) * k + x) * c + ci];
                    }
                }
            }
        }
        (vec![f, c, k, k], out)
    }

    /// The biases of convolution layer `l`, one per filter.
    pub fn conv_bias(&self, l: usize) -> &[f32] {
        let _ = self.geometry(l);
        &self.params[self.first_param[l].expect("conv has weights") + 1]
    }

    /// Sets the biases of convolution layer `l`.
    pub fn set_conv_bias(&mut self, l: usize, bias: &[f32]) {
        let _ = self.geometry(l);
        let b = &mut self.params[self.first_param[l].expect("conv has weights") + 1];
        assert_eq!(b.len(), bias.len(), "one bias per filter");
        b.copy_from_slice(bias);
    }

    /// Sets convolution layer `l`'s weights from a (filters, channels, k, k) bank of the
    /// layer's exact size.
    pub fn set_conv_bank(&mut self, l: usize, bank: &[f32]) {
        let g = self.geometry(l);
        let idx = self.first_param[l].expect("conv has weights");
        let (k, c) = (g.kernel, g.channels);
        let w = &mut self.params[idx];
        assert_eq!(bank.len(), w.len(), "bank size matches the layer");
        let f = w.len() / (k * k * c);
        for fi in 0..f {
            for ci in 0..c {
                for y in 0..k {
                    for x in 0..k {
                        w[((fi * k + y) * k + x) * c + ci] = bank[((fi * c + ci) * k + y) * k + x];
                    }
                }
            }
        }
    }
}
