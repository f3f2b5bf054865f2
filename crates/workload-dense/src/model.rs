//! The Keras model being mirrored: `Dense(units, relu)` × layers, then `Dense(10)` with softmax
//! folded into the cross-entropy; Glorot-uniform weights, zero biases; Adam with Keras' defaults.
//!
//! Every libtorch call goes through a fallible `f_` function, so a libtorch failure surfaces as a
//! [`TchError`] rather than a panic.

use tch::{COptimizer, Device, Kind, Reduction, TchError, Tensor};

use crate::digits::{CLASSES, Digits};

const LEARNING_RATE: f64 = 1e-3;
const ADAM_BETA1: f64 = 0.9;
const ADAM_BETA2: f64 = 0.999;
/// Keras' Adam epsilon (libtorch's default is 1e-8).
const ADAM_EPSILON: f64 = 1e-7;
/// Digits per forward pass when evaluating: bounds the `f32` copy of the inputs to ~1.5 MB.
const EVAL_CHUNK: usize = 500;
/// libtorch's default: no target is ignored as long as labels are 0..10.
const NO_IGNORED_INDEX: i64 = -100;

struct Dense {
    weight: Tensor,
    bias: Tensor,
}

impl Dense {
    fn glorot_uniform(inputs: i64, outputs: i64) -> Result<Self, TchError> {
        let bound = (6.0 / (inputs + outputs) as f64).sqrt();
        let options = (Kind::Float, Device::Cpu);
        let weight = tch::no_grad(|| {
            Tensor::f_empty(&[outputs, inputs], options)?.f_uniform_(-bound, bound)
        })?;
        let bias = Tensor::f_zeros(&[outputs], options)?;
        Ok(Self {
            weight: weight.f_set_requires_grad(true)?,
            bias: bias.f_set_requires_grad(true)?,
        })
    }

    fn forward(&self, inputs: &Tensor) -> Result<Tensor, TchError> {
        inputs.f_linear(&self.weight, Some(&self.bias))
    }
}

pub(crate) struct Mlp {
    hidden: Vec<Dense>,
    output: Dense,
}

impl Mlp {
    /// Weights are drawn from libtorch's global generator: seed it first.
    pub(crate) fn new(inputs: usize, hidden_layers: u32, units: u32) -> Result<Self, TchError> {
        let units = i64::from(units);
        let mut hidden = Vec::with_capacity(hidden_layers as usize);
        let mut width = inputs as i64;
        for _ in 0..hidden_layers {
            hidden.push(Dense::glorot_uniform(width, units)?);
            width = units;
        }
        let output = Dense::glorot_uniform(width, i64::from(CLASSES))?;
        Ok(Self { hidden, output })
    }

    fn parameters(&self) -> impl Iterator<Item = &Tensor> {
        self.hidden
            .iter()
            .chain(std::iter::once(&self.output))
            .flat_map(|layer| [&layer.weight, &layer.bias])
    }

    fn logits(&self, inputs: &Tensor) -> Result<Tensor, TchError> {
        let mut activations = inputs.shallow_clone();
        for layer in &self.hidden {
            activations = layer.forward(&activations)?.f_relu()?;
        }
        self.output.forward(&activations)
    }

    pub(crate) fn adam(&self) -> Result<Trainer, TchError> {
        let mut optimizer = COptimizer::adam(
            LEARNING_RATE,
            ADAM_BETA1,
            ADAM_BETA2,
            0.0,
            ADAM_EPSILON,
            false,
        )?;
        for parameter in self.parameters() {
            optimizer.add_parameters(parameter, 0)?;
        }
        Ok(Trainer {
            optimizer,
            batch: BatchBuffer::default(),
        })
    }

    /// Test-mode accuracy and mean cross-entropy over `indices`.
    pub(crate) fn evaluate(
        &self,
        digits: &Digits,
        indices: &[usize],
    ) -> Result<Evaluation, TchError> {
        if indices.is_empty() {
            return Ok(Evaluation {
                accuracy: 0.0,
                loss: 0.0,
            });
        }
        let mut buffer = BatchBuffer::default();
        let (mut correct, mut loss_sum) = (0i64, 0.0f64);
        tch::no_grad(|| {
            for chunk in indices.chunks(EVAL_CHUNK) {
                let (inputs, labels) = buffer.fill(digits, chunk)?;
                let logits = self.logits(&inputs)?;
                let loss = logits.f_cross_entropy_loss(
                    &labels,
                    None::<Tensor>,
                    Reduction::Sum,
                    NO_IGNORED_INDEX,
                    0.0,
                )?;
                loss_sum += loss.f_double_value(&[])?;
                let hits = logits
                    .f_argmax(1, false)?
                    .f_eq_tensor(&labels)?
                    .f_sum(Kind::Int64)?;
                correct += hits.f_int64_value(&[])?;
            }
            Ok::<_, TchError>(())
        })?;
        let n = indices.len() as f64;
        Ok(Evaluation {
            accuracy: correct as f64 / n,
            loss: loss_sum / n,
        })
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Evaluation {
    pub(crate) accuracy: f64,
    pub(crate) loss: f64,
}

/// An Adam optimizer bound to one model's parameters.
pub(crate) struct Trainer {
    optimizer: COptimizer,
    batch: BatchBuffer,
}

impl Trainer {
    /// One pass over `batch_order` in batches of `batch_size` (the last batch may be smaller).
    pub(crate) fn epoch(
        &mut self,
        model: &Mlp,
        digits: &Digits,
        batch_order: &[usize],
        batch_size: usize,
    ) -> Result<(), TchError> {
        for batch in batch_order.chunks(batch_size) {
            let (inputs, labels) = self.batch.fill(digits, batch)?;
            let loss = model.logits(&inputs)?.f_cross_entropy_loss(
                &labels,
                None::<Tensor>,
                Reduction::Mean,
                NO_IGNORED_INDEX,
                0.0,
            )?;
            self.optimizer.zero_grad()?;
            loss.f_backward()?;
            self.optimizer.step()?;
        }
        Ok(())
    }
}

/// Reused host buffers for one batch: pixels scaled to [0, 1] as `f32`, labels as `i64`.
#[derive(Default)]
struct BatchBuffer {
    pixels: Vec<f32>,
    labels: Vec<i64>,
}

impl BatchBuffer {
    fn fill(&mut self, digits: &Digits, indices: &[usize]) -> Result<(Tensor, Tensor), TchError> {
        self.pixels.clear();
        self.labels.clear();
        for &index in indices {
            self.pixels
                .extend(digits.pixels(index).iter().map(|&p| f32::from(p) / 255.0));
            self.labels.push(i64::from(digits.label(index)));
        }
        let inputs = Tensor::f_of_slice(&self.pixels)?
            .f_view([indices.len() as i64, digits.pixels_per_digit() as i64])?;
        Ok((inputs, Tensor::f_of_slice(&self.labels)?))
    }
}
