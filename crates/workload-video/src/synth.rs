//! The synthetic source clip: a seeded, textured world seen through a panning camera, with
//! moving shapes, a travelling light wave and fresh film grain on every frame.
//!
//! Everything is derived from one seed through `rand_pcg`, so a seed always yields the same
//! frames. The expensive part (the world texture) is built once per clip; each frame is then a
//! few wrapped row copies with a vectorisable add, so synthesis stays cheap next to encoding.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// Width of the source frames, as the original's raw 1080p segment.
pub const SOURCE_WIDTH: usize = 1920;
/// Height of the source frames.
pub const SOURCE_HEIGHT: usize = 1080;
/// Bytes of one YUV 4:2:0 source frame.
pub const SOURCE_FRAME_BYTES: u64 = (SOURCE_WIDTH * SOURCE_HEIGHT * 3 / 2) as u64;

/// Side of the square, seamlessly tiling luma world; a power of two so wrapping is a mask.
const LUMA_TILE: usize = 2048;
const CHROMA_TILE: usize = LUMA_TILE / 2;
const CHROMA_WIDTH: usize = SOURCE_WIDTH / 2;
const CHROMA_HEIGHT: usize = SOURCE_HEIGHT / 2;
/// Grain is read from this table at a random offset per row and frame: per-pixel random draws
/// would cost more than the rest of the frame.
const GRAIN_TABLE_LEN: usize = 1 << 16;
const SHAPE_COUNT: usize = 14;
const NO_GRAIN: [i8; SOURCE_WIDTH] = [0; SOURCE_WIDTH];

/// One plane of a frame being written: `height` rows of `width` bytes, `stride` bytes apart.
pub struct PlaneMut<'a> {
    pub data: &'a mut [u8],
    pub stride: usize,
}

impl PlaneMut<'_> {
    fn row(&mut self, y: usize, width: usize) -> &mut [u8] {
        let start = y * self.stride;
        &mut self.data[start..start + width]
    }
}

#[derive(Debug, Clone, Copy)]
enum ShapeKind {
    Disc,
    /// A box with diagonal stripes that crawl over time.
    StripedBox,
}

#[derive(Debug, Clone)]
struct Shape {
    kind: ShapeKind,
    x: f32,
    y: f32,
    dx: f32,
    dy: f32,
    /// Radius of a disc, half the side of a box.
    half_size: f32,
    luma: u8,
    u: u8,
    v: u8,
}

impl Shape {
    fn random(rng: &mut Pcg64) -> Self {
        let half_size = rng.random_range(30.0..200.0f32);
        Self {
            kind: if rng.random_bool(0.5) {
                ShapeKind::Disc
            } else {
                ShapeKind::StripedBox
            },
            x: rng.random_range(half_size..SOURCE_WIDTH as f32 - half_size),
            y: rng.random_range(half_size..SOURCE_HEIGHT as f32 - half_size),
            dx: rng.random_range(-14.0..14.0),
            dy: rng.random_range(-9.0..9.0),
            half_size,
            luma: rng.random_range(16..236),
            u: rng.random_range(40..216),
            v: rng.random_range(40..216),
        }
    }

    /// Moves one frame on, bouncing off the frame's edges.
    fn advance(&mut self) {
        self.x += self.dx;
        self.y += self.dy;
        let (max_x, max_y) = (
            SOURCE_WIDTH as f32 - self.half_size,
            SOURCE_HEIGHT as f32 - self.half_size,
        );
        if self.x < self.half_size || self.x > max_x {
            self.dx = -self.dx;
            self.x = self.x.clamp(self.half_size, max_x);
        }
        if self.y < self.half_size || self.y > max_y {
            self.dy = -self.dy;
            self.y = self.y.clamp(self.half_size, max_y);
        }
    }

    /// Horizontal extent `[x0, x1)` covered on row `row` of a plane subsampled by `scale`.
    fn span(&self, row: usize, scale: f32, plane_width: usize) -> Option<(usize, usize)> {
        let (cx, cy, r) = (self.x / scale, self.y / scale, self.half_size / scale);
        let dy = row as f32 + 0.5 - cy;
        if dy.abs() > r {
            return None;
        }
        let half_width = match self.kind {
            ShapeKind::Disc => (r * r - dy * dy).sqrt(),
            ShapeKind::StripedBox => r,
        };
        let x0 = (cx - half_width).max(0.0) as usize;
        let x1 = ((cx + half_width).max(0.0) as usize).min(plane_width);
        (x0 < x1).then_some((x0, x1))
    }

    fn rows(&self, scale: f32, plane_height: usize) -> std::ops::Range<usize> {
        let top = ((self.y - self.half_size) / scale).max(0.0) as usize;
        let bottom =
            (((self.y + self.half_size) / scale).ceil().max(0.0) as usize).min(plane_height);
        top..bottom
    }

    fn draw_luma(&self, plane: &mut PlaneMut<'_>, stripe_phase: usize) {
        for row in self.rows(1.0, SOURCE_HEIGHT) {
            let Some((x0, x1)) = self.span(row, 1.0, SOURCE_WIDTH) else {
                continue;
            };
            let line = &mut plane.row(row, SOURCE_WIDTH)[x0..x1];
            match self.kind {
                ShapeKind::Disc => line.fill(self.luma),
                ShapeKind::StripedBox => {
                    for (x, pixel) in (x0..).zip(line.iter_mut()) {
                        let lit = ((x + row + stripe_phase) >> 4) & 1 == 1;
                        *pixel = if lit {
                            self.luma.saturating_add(48)
                        } else {
                            self.luma
                        };
                    }
                }
            }
        }
    }

    fn draw_chroma(&self, plane: &mut PlaneMut<'_>, value: u8) {
        for row in self.rows(2.0, CHROMA_HEIGHT) {
            if let Some((x0, x1)) = self.span(row, 2.0, CHROMA_WIDTH) {
                plane.row(row, CHROMA_WIDTH)[x0..x1].fill(value);
            }
        }
    }
}

/// Generates the frames of one clip, in order.
pub struct SyntheticClip {
    luma_world: Vec<u8>,
    u_world: Vec<u8>,
    v_world: Vec<u8>,
    grain: Vec<i8>,
    shapes: Vec<Shape>,
    rng: Pcg64,
    pan_speed: (f32, f32),
    wave_length: f32,
    wave_speed: f32,
    frame_index: u32,
}

impl SyntheticClip {
    pub fn new(seed: u64) -> Self {
        let mut rng = Pcg64::seed_from_u64(seed);
        let luma_world = tiling_noise(
            LUMA_TILE,
            &[(256, 0.45), (64, 0.25), (16, 0.18), (4, 0.12)],
            128.0,
            110.0,
            &mut rng,
        );
        let chroma_octaves = [(128, 0.6), (32, 0.3), (8, 0.1)];
        let u_world = tiling_noise(CHROMA_TILE, &chroma_octaves, 128.0, 60.0, &mut rng);
        let v_world = tiling_noise(CHROMA_TILE, &chroma_octaves, 128.0, 60.0, &mut rng);
        let grain = (0..GRAIN_TABLE_LEN)
            .map(|_| {
                // Sum of two uniforms: a triangular grain in -4..=4, centred on zero.
                let bits: u32 = rng.random();
                ((bits & 0xff) % 5 + ((bits >> 8) & 0xff) % 5) as i8 - 4
            })
            .collect();
        let shapes = (0..SHAPE_COUNT).map(|_| Shape::random(&mut rng)).collect();
        let pan_speed = (rng.random_range(1.5..6.0), rng.random_range(-2.0..2.0));
        let wave_length = rng.random_range(250.0..900.0);
        let wave_speed = rng.random_range(0.004..0.02);
        Self {
            luma_world,
            u_world,
            v_world,
            grain,
            shapes,
            rng,
            pan_speed,
            wave_length,
            wave_speed,
            frame_index: 0,
        }
    }

    /// Writes the next frame into the three planes of a 1920x1080 YUV 4:2:0 picture.
    pub fn render_next(
        &mut self,
        luma: &mut PlaneMut<'_>,
        u: &mut PlaneMut<'_>,
        v: &mut PlaneMut<'_>,
    ) {
        let t = self.frame_index as f32;
        // A steady pan with a slow sway, as a hand-held camera would give.
        let pan_x = (self.pan_speed.0 * t + 24.0 * (t * 0.07).sin()).round() as i64;
        let pan_y = (self.pan_speed.1 * t + 12.0 * (t * 0.05).cos()).round() as i64;
        let origin_x = pan_x.rem_euclid(LUMA_TILE as i64) as usize;
        let origin_y = pan_y.rem_euclid(LUMA_TILE as i64) as usize;

        let phase = t * self.wave_speed;
        for y in 0..SOURCE_HEIGHT {
            let light =
                14.0 * (std::f32::consts::TAU * (y as f32 / self.wave_length - phase)).sin();
            let grain_start = self.rng.random_range(0..GRAIN_TABLE_LEN - SOURCE_WIDTH);
            let grain = &self.grain[grain_start..grain_start + SOURCE_WIDTH];
            let world_row = (origin_y + y) & (LUMA_TILE - 1);
            shade_wrapped_row(
                luma.row(y, SOURCE_WIDTH),
                &self.luma_world[world_row * LUMA_TILE..(world_row + 1) * LUMA_TILE],
                origin_x,
                light as i16,
                grain,
            );
        }

        let tint_u = (10.0 * (t * 0.031).sin()) as i16;
        let tint_v = (10.0 * (t * 0.023).cos()) as i16;
        shade_chroma(u, &self.u_world, origin_x / 2, origin_y / 2, tint_u);
        shade_chroma(v, &self.v_world, origin_x / 2, origin_y / 2, tint_v);

        let stripe_phase = 3 * self.frame_index as usize;
        for shape in &mut self.shapes {
            shape.draw_luma(luma, stripe_phase);
            shape.draw_chroma(u, shape.u);
            shape.draw_chroma(v, shape.v);
            shape.advance();
        }
        self.frame_index += 1;
    }
}

/// Fills a chroma plane from its tiling world seen from `(origin_x, origin_y)`, tinted.
fn shade_chroma(
    plane: &mut PlaneMut<'_>,
    world: &[u8],
    origin_x: usize,
    origin_y: usize,
    tint: i16,
) {
    for y in 0..CHROMA_HEIGHT {
        let world_row = (origin_y + y) & (CHROMA_TILE - 1);
        shade_wrapped_row(
            plane.row(y, CHROMA_WIDTH),
            &world[world_row * CHROMA_TILE..(world_row + 1) * CHROMA_TILE],
            origin_x,
            tint,
            &NO_GRAIN[..CHROMA_WIDTH],
        );
    }
}

/// Fills `dst` from a tiling world row starting at `origin` (wrapping at its end), adding
/// `offset` and per-pixel `grain` with saturation.
fn shade_wrapped_row(dst: &mut [u8], world_row: &[u8], origin: usize, offset: i16, grain: &[i8]) {
    let first = dst.len().min(world_row.len() - origin);
    let (head, tail) = dst.split_at_mut(first);
    let (grain_head, grain_tail) = grain.split_at(first);
    shade_row(head, &world_row[origin..origin + first], offset, grain_head);
    shade_row(tail, &world_row[..tail.len()], offset, grain_tail);
}

fn shade_row(dst: &mut [u8], src: &[u8], offset: i16, grain: &[i8]) {
    for ((pixel, &base), &noise) in dst.iter_mut().zip(src).zip(grain) {
        *pixel = (i16::from(base) + offset + i16::from(noise)).clamp(0, 255) as u8;
    }
}

/// A `size`×`size` value-noise texture that tiles seamlessly: each octave is a periodic lattice
/// of `(cell, amplitude)` with bilinear, smoothstepped interpolation; the sum maps to
/// `mid ± spread`.
fn tiling_noise(
    size: usize,
    octaves: &[(usize, f32)],
    mid: f32,
    spread: f32,
    rng: &mut Pcg64,
) -> Vec<u8> {
    let mut sum = vec![0.0f32; size * size];
    let mut lattice_row = Vec::new();
    for &(cell, amplitude) in octaves {
        let cells = size / cell;
        let lattice: Vec<f32> = (0..cells * cells)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        // Per column: the two lattice columns around it and the blend weight between them.
        let columns: Vec<(usize, usize, f32)> = (0..size)
            .map(|x| {
                (
                    x / cell,
                    (x / cell + 1) % cells,
                    smoothstep((x % cell) as f32 / cell as f32),
                )
            })
            .collect();
        for (y, sum_row) in sum.chunks_exact_mut(size).enumerate() {
            let (top, bottom) = (y / cell, (y / cell + 1) % cells);
            let weight = smoothstep((y % cell) as f32 / cell as f32);
            lattice_row.clear();
            lattice_row.extend((0..cells).map(|i| {
                let (a, b) = (lattice[top * cells + i], lattice[bottom * cells + i]);
                a + (b - a) * weight
            }));
            for (value, &(left, right, w)) in sum_row.iter_mut().zip(&columns) {
                let (a, b) = (lattice_row[left], lattice_row[right]);
                *value += amplitude * (a + (b - a) * w);
            }
        }
    }
    sum.into_iter()
        .map(|v| (mid + spread * v).clamp(0.0, 255.0) as u8)
        .collect()
}

fn smoothstep(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Frame {
        luma: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    }

    fn render(clip: &mut SyntheticClip) -> Frame {
        let mut frame = Frame {
            luma: vec![0; SOURCE_WIDTH * SOURCE_HEIGHT],
            u: vec![0; CHROMA_WIDTH * CHROMA_HEIGHT],
            v: vec![0; CHROMA_WIDTH * CHROMA_HEIGHT],
        };
        clip.render_next(
            &mut PlaneMut {
                data: &mut frame.luma,
                stride: SOURCE_WIDTH,
            },
            &mut PlaneMut {
                data: &mut frame.u,
                stride: CHROMA_WIDTH,
            },
            &mut PlaneMut {
                data: &mut frame.v,
                stride: CHROMA_WIDTH,
            },
        );
        frame
    }

    fn mean_abs_difference(a: &[u8], b: &[u8]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x.abs_diff(y)))
            .sum::<f64>()
            / a.len() as f64
    }

    #[test]
    fn same_seed_same_frames_other_seed_other_frames() {
        let (mut a, mut b, mut c) = (
            SyntheticClip::new(7),
            SyntheticClip::new(7),
            SyntheticClip::new(8),
        );
        for _ in 0..3 {
            let (fa, fb, fc) = (render(&mut a), render(&mut b), render(&mut c));
            assert!(fa.luma == fb.luma && fa.u == fb.u && fa.v == fb.v);
            assert!(mean_abs_difference(&fa.luma, &fc.luma) > 10.0);
        }
    }

    #[test]
    fn frames_have_texture_and_motion() {
        let mut clip = SyntheticClip::new(1);
        let first = render(&mut clip);
        let second = render(&mut clip);
        // Texture: neighbouring pixels differ, and the picture spans a wide range of levels.
        let (min, max) = (
            first.luma.iter().min().unwrap(),
            first.luma.iter().max().unwrap(),
        );
        assert!(max - min > 150, "luma range {min}..{max}");
        assert!(mean_abs_difference(&first.luma[1..], &first.luma[..first.luma.len() - 1]) > 1.0);
        assert!(first.u.iter().min() != first.u.iter().max());
        // Motion: consecutive frames are not the same picture.
        assert!(mean_abs_difference(&first.luma, &second.luma) > 3.0);
    }

    #[test]
    fn world_tiles_seamlessly() {
        let mut rng = Pcg64::seed_from_u64(3);
        let size = 64;
        let tile = tiling_noise(size, &[(16, 1.0)], 128.0, 100.0, &mut rng);
        // Across the wrap the step is as small as between ordinary neighbours.
        let seam: f64 = (0..size)
            .map(|y| f64::from(tile[y * size + size - 1].abs_diff(tile[y * size])))
            .sum::<f64>()
            / size as f64;
        assert!(seam < 12.0, "seam step {seam}");
    }
}
