//! Writing an extraction's patches: every image's patches are drawn, collected into blocks,
//! transformed (DC removal, ZCA) and written as little-endian float32 by a second thread,
//! while running moments of every written value are kept for the sidecar.

use super::ExtractParams;
use super::inputs::{Source, load_preprocessed};
use super::sample::{self, SampleSpec};
use super::whiten::Zca;
use crate::error::{Error, Result};
use crate::io::atomic::AtomicFile;
use crate::observer::Progress;
use rayon::prelude::*;
use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Instant;

/// What writing the patches produced.
pub(super) struct Written {
    /// Draws rejected by `min_std`, per image.
    pub rejected: Vec<usize>,
    pub stats: FinalStats,
    pub preprocess_seconds: f64,
    pub sample_seconds: f64,
}

/// Draws `quotas[k]` patches from each image in order and writes them after the header
/// already in `file`. Memory holds one image and a few blocks, however large the output.
pub(super) fn write_patches(
    config: &ExtractParams,
    sources: &[Source],
    quotas: &[usize],
    zca: Option<&Zca>,
    file: &mut AtomicFile,
    progress: &dyn Progress,
) -> Result<Written> {
    let p = config.patch_size;
    let dim = p * p;
    let mut rejected = vec![0usize; sources.len()];
    let mut preprocess_seconds = 0.0;
    let t_sample = Instant::now();
    progress.start("extract", Some(config.count as u64));
    // The kernel's copy into the page cache costs about as much as everything else, so a
    // second thread writes finished blocks while this one samples the next.
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
    let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let file_writer = file.writer();
    let (sampled, written): (Result<BlockWriter>, std::io::Result<()>) =
        std::thread::scope(|scope| {
            let io = scope.spawn(move || -> std::io::Result<()> {
                for bytes in full_rx {
                    file_writer.write_all(&bytes)?;
                    // The sampler may have finished; a lost spare buffer is harmless.
                    let _ = spare_tx.send(bytes);
                }
                Ok(())
            });
            let mut writer = BlockWriter::new(dim, config.dc_removal, zca, full_tx, spare_rx);
            let result = (|| -> Result<()> {
                let mut patch_buf = Vec::with_capacity(dim);
                for (k, source) in sources.iter().enumerate() {
                    let t = Instant::now();
                    let img = load_preprocessed(config, source)?;
                    preprocess_seconds += t.elapsed().as_secs_f64();
                    let spec = SampleSpec {
                        patch: p,
                        margin: config.margin,
                        quota: quotas[k],
                        min_std: config.min_std,
                    };
                    let mut rng = sample::image_rng(config.seed, k);
                    rejected[k] = sample::sample_image(
                        &img,
                        &spec,
                        &mut rng,
                        &source.label,
                        &mut patch_buf,
                        |patch| {
                            if writer.push(patch)? {
                                progress.advance(writer.written as u64, &source.label);
                            }
                            Ok(())
                        },
                    )?;
                }
                writer.flush()
            })();
            // Closing the channel lets the writing thread finish.
            let writer = result.map(|()| writer.close());
            let written = io
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the writing thread panicked")));
            (writer, written)
        });
    // A failed write explains a failed send, so it is reported first.
    written.map_err(|e| file.write_error(e))?;
    let writer = sampled?;
    let sample_seconds = t_sample.elapsed().as_secs_f64() - preprocess_seconds;
    if writer.written != config.count {
        return Err(Error::failed(
            "extract",
            format!(
                "wrote {} patches, expected {}",
                writer.written, config.count
            ),
        ));
    }
    Ok(Written {
        rejected,
        stats: writer.stats.finish(),
        preprocess_seconds,
        sample_seconds,
    })
}

/// Patches per block handed to the writer: 4096 x 144 floats = 2.4 MB, big enough that the
/// per-block costs (ZCA product, write call) vanish, small enough to stay in cache-friendly
/// territory and bounded memory.
const BLOCK: usize = 4096;

/// Collects patches into blocks, transforms each block (DC removal, ZCA), accumulates
/// statistics, and writes it as little-endian float32.
///
/// A block is processed in parallel in chunks of a fixed [`CHUNK`] patches whose partial
/// statistics are combined in chunk order: the work per chunk and the order of every sum are
/// the same whatever the thread count, so the output and the sidecar are too.
struct BlockWriter<'a> {
    dim: usize,
    dc_removal: bool,
    zca: Option<&'a Zca>,
    block: Vec<f32>,
    bytes: Vec<u8>,
    partials: Vec<Moments>,
    written: usize,
    stats: Moments,
    /// Finished blocks go to the writing thread, and their buffers come back for reuse.
    full: Option<SyncSender<Vec<u8>>>,
    spare: Receiver<Vec<u8>>,
}

/// Patches per parallel work item within a block.
const CHUNK: usize = 256;

impl<'a> BlockWriter<'a> {
    fn new(
        dim: usize,
        dc_removal: bool,
        zca: Option<&'a Zca>,
        full: SyncSender<Vec<u8>>,
        spare: Receiver<Vec<u8>>,
    ) -> Self {
        Self {
            full: Some(full),
            spare,
            dim,
            dc_removal,
            zca,
            block: Vec::with_capacity(BLOCK * dim),
            bytes: Vec::with_capacity(BLOCK * dim * 4),
            partials: Vec::with_capacity(BLOCK / CHUNK + 1),
            written: 0,
            stats: Moments::default(),
        }
    }

    /// Adds one patch; returns true when a block was written.
    fn push(&mut self, patch: &[f32]) -> Result<bool> {
        self.block.extend_from_slice(patch);
        if self.block.len() == BLOCK * self.dim {
            self.flush()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Stops sending; the writing thread ends once it has written what it holds.
    fn close(mut self) -> Self {
        self.full = None;
        self
    }

    fn flush(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let (dim, dc_removal, zca) = (self.dim, self.dc_removal, self.zca);
        let rows = self.block.len() / dim;
        self.bytes.resize(self.block.len() * 4, 0);
        self.block
            .par_chunks_mut(CHUNK * dim)
            .zip(self.bytes.par_chunks_mut(CHUNK * dim * 4))
            .map_init(Vec::new, |scratch, (chunk, out)| {
                if dc_removal {
                    sample::remove_dc(chunk, dim);
                }
                if let Some(z) = zca {
                    z.apply(chunk, chunk.len() / dim, scratch);
                    if dc_removal {
                        // ZCA maps zero-mean patches to nearly zero-mean ones; make it exact.
                        sample::remove_dc(chunk, dim);
                    }
                }
                for (dst, v) in out.chunks_exact_mut(4).zip(chunk.iter()) {
                    dst.copy_from_slice(&v.to_le_bytes());
                }
                let mut m = Moments::default();
                m.add_block(chunk, dim);
                m
            })
            .collect_into_vec(&mut self.partials);
        for m in &self.partials {
            self.stats.merge(m);
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BLOCK * dim * 4));
        let full = std::mem::replace(&mut self.bytes, next);
        let sent = self.full.as_ref().map(|tx| tx.send(full));
        if !matches!(sent, Some(Ok(()))) {
            return Err(Error::failed("extract", "the writing thread stopped"));
        }
        self.written += rows;
        self.block.clear();
        Ok(())
    }
}

/// Running raw moments of every written value, in f64.
struct Moments {
    n: f64,
    s1: f64,
    s2: f64,
    s3: f64,
    s4: f64,
    min: f32,
    max: f32,
    max_abs_patch_mean: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Self {
            n: 0.0,
            s1: 0.0,
            s2: 0.0,
            s3: 0.0,
            s4: 0.0,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            max_abs_patch_mean: 0.0,
        }
    }
}

pub(super) struct FinalStats {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub excess_kurtosis: f64,
    pub max_abs_patch_mean: f64,
}

impl Moments {
    fn add_block(&mut self, block: &[f32], dim: usize) {
        for patch in block.chunks_exact(dim) {
            let (mut p1, mut p2, mut p3, mut p4) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            for &v in patch {
                let x = v as f64;
                let x2 = x * x;
                p1 += x;
                p2 += x2;
                p3 += x2 * x;
                p4 += x2 * x2;
                lo = lo.min(v);
                hi = hi.max(v);
            }
            self.s1 += p1;
            self.s2 += p2;
            self.s3 += p3;
            self.s4 += p4;
            self.min = self.min.min(lo);
            self.max = self.max.max(hi);
            self.max_abs_patch_mean = self.max_abs_patch_mean.max((p1 / dim as f64).abs());
        }
        self.n += block.len() as f64;
    }

    fn merge(&mut self, other: &Moments) {
        self.n += other.n;
        self.s1 += other.s1;
        self.s2 += other.s2;
        self.s3 += other.s3;
        self.s4 += other.s4;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.max_abs_patch_mean = self.max_abs_patch_mean.max(other.max_abs_patch_mean);
    }

    fn finish(&self) -> FinalStats {
        let n = self.n.max(1.0);
        let m = self.s1 / n;
        let (e2, e3, e4) = (self.s2 / n, self.s3 / n, self.s4 / n);
        let var = (e2 - m * m).max(0.0);
        let c4 = e4 - 4.0 * m * e3 + 6.0 * m * m * e2 - 3.0 * m.powi(4);
        FinalStats {
            mean: m,
            std: var.sqrt(),
            min: self.min as f64,
            max: self.max as f64,
            excess_kurtosis: if var > 0.0 {
                c4 / (var * var) - 3.0
            } else {
                f64::NAN
            },
            max_abs_patch_mean: self.max_abs_patch_mean,
        }
    }
}
