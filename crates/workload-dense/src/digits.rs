//! The embedded MNIST digits: checked decoding, the fixed test split and per-request sampling.
//!
//! Pixels stay `u8` for the life of a request; callers turn only one batch at a time into `f32`.

use std::io::Read;

use flate2::read::GzDecoder;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64Mcg;
use sha2::{Digest, Sha256};

/// `data/mnist-10k.bin.gz`, written by `scripts/convert-mnist.py` (layout documented there and in
/// [`parse`]); provenance and licences in `data/LICENSE.md`.
pub(crate) const EMBEDDED_GZ: &[u8] = include_bytes!("../data/mnist-10k.bin.gz");

/// sha256 of the decompressed payload of [`EMBEDDED_GZ`].
const PAYLOAD_SHA256: &str = "f76cd623079fa5f4e154b45f5b43564ce4d6acd35f48450798bd96693c27c215";
const MAGIC: &[u8; 8] = b"CLMNIST1";
const HEADER_LEN: usize = MAGIC.len() + 3 * 4;
/// Upper bound on what decompression may produce: the real payload is 7,850,020 bytes. Guards
/// against a corrupt stream inflating without end.
const MAX_PAYLOAD_LEN: u64 = 16 << 20;
pub(crate) const CLASSES: u8 = 10;

/// Digits every request is tested on, never trained or validated on.
pub(crate) const TEST_DIGITS: usize = 2_000;
/// Seeds the one permutation that picks the test digits. A constant, independent of the request
/// seed, so every request is scored on the same 2,000 digits; a uniform draw from the
/// class-grouped file leaves each class near its 10 % share.
const TEST_SPLIT_SEED: u64 = 0x4D4E_4953_5400_2000;
/// Keras' `validation_split=0.2`: the validation share of the sampled digits.
const VALIDATION_PERCENT: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot decompress the digits: {0}")]
    Decompress(#[from] std::io::Error),
    #[error("digits payload sha256 is {actual}, expected {expected}")]
    ChecksumMismatch {
        expected: &'static str,
        actual: String,
    },
    #[error("malformed digits payload: {0}")]
    Malformed(String),
}

/// Decoded digits: the decompressed payload, kept whole so that labels and pixels are views into
/// one allocation.
#[derive(Debug)]
pub(crate) struct Digits {
    payload: Vec<u8>,
    count: usize,
    pixels_per_digit: usize,
}

impl Digits {
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    pub(crate) fn pixels_per_digit(&self) -> usize {
        self.pixels_per_digit
    }

    pub(crate) fn label(&self, index: usize) -> u8 {
        self.payload[HEADER_LEN + index]
    }

    /// Row-major pixel intensities, 0..=255.
    pub(crate) fn pixels(&self, index: usize) -> &[u8] {
        let start = HEADER_LEN + self.count + index * self.pixels_per_digit;
        &self.payload[start..start + self.pixels_per_digit]
    }
}

/// Decompresses the gzip file, verifies the payload checksum and parses it.
pub(crate) fn decode(gz: &[u8]) -> Result<Digits, DataError> {
    let mut payload = Vec::with_capacity(declared_size(gz));
    GzDecoder::new(gz)
        .take(MAX_PAYLOAD_LEN)
        .read_to_end(&mut payload)?;
    let actual = hex(&Sha256::digest(&payload));
    if actual != PAYLOAD_SHA256 {
        return Err(DataError::ChecksumMismatch {
            expected: PAYLOAD_SHA256,
            actual,
        });
    }
    parse(payload)
}

/// The size gzip's trailer declares (ISIZE), capped, so the payload is allocated once instead of
/// growing by doubling; a wrong value costs only a reallocation.
fn declared_size(gz: &[u8]) -> usize {
    let declared = gz
        .last_chunk::<4>()
        .map_or(0, |isize| u32::from_le_bytes(*isize));
    u64::from(declared).min(MAX_PAYLOAD_LEN) as usize
}

/// Parses `b"CLMNIST1" | u32 count | u32 rows | u32 cols | count × u8 label |
/// count × rows × cols × u8 pixel` (little-endian), checking sizes and labels.
fn parse(payload: Vec<u8>) -> Result<Digits, DataError> {
    let malformed = |what: String| Err(DataError::Malformed(what));
    if payload.len() < HEADER_LEN || &payload[..MAGIC.len()] != MAGIC {
        return malformed("missing CLMNIST1 header".to_owned());
    }
    let field = |at: usize| {
        let bytes = [
            payload[at],
            payload[at + 1],
            payload[at + 2],
            payload[at + 3],
        ];
        u32::from_le_bytes(bytes) as usize
    };
    let (count, rows, cols) = (field(8), field(12), field(16));
    let expected_len = rows
        .checked_mul(cols)
        .and_then(|pixels| pixels.checked_add(1))
        .and_then(|per_digit| per_digit.checked_mul(count))
        .and_then(|body| body.checked_add(HEADER_LEN));
    if expected_len != Some(payload.len()) {
        return malformed(format!(
            "{} bytes do not hold {count} digits of {rows}x{cols}",
            payload.len()
        ));
    }
    if count == 0 || rows * cols == 0 {
        return malformed("no pixels".to_owned());
    }
    let labels = &payload[HEADER_LEN..HEADER_LEN + count];
    if let Some(position) = labels.iter().position(|&label| label >= CLASSES) {
        return malformed(format!("digit {position} has label {}", labels[position]));
    }
    Ok(Digits {
        payload,
        count,
        pixels_per_digit: rows * cols,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The fixed test/pool split of digit indices.
#[derive(Debug)]
pub(crate) struct FixedSplit {
    pub(crate) test: Vec<usize>,
    pub(crate) pool: Vec<usize>,
}

pub(crate) fn fixed_split(count: usize) -> FixedSplit {
    let mut order: Vec<usize> = (0..count).collect();
    order.shuffle(&mut Pcg64Mcg::seed_from_u64(TEST_SPLIT_SEED));
    let pool = order.split_off(TEST_DIGITS.min(count));
    FixedSplit { test: order, pool }
}

/// One request's training and validation digits, drawn from the pool with the request's seed.
#[derive(Debug)]
pub(crate) struct Sample {
    pub(crate) training: Vec<usize>,
    pub(crate) validation: Vec<usize>,
}

/// Shuffles `pool` with `rng`, keeps `min(requested, pool.len())` digits and splits them like
/// Keras' `validation_split`: the first `floor(80 %)` train, the rest validate.
pub(crate) fn sample(mut pool: Vec<usize>, requested: usize, rng: &mut Pcg64Mcg) -> Sample {
    pool.shuffle(rng);
    pool.truncate(requested);
    let training_len = pool.len() * (100 - VALIDATION_PERCENT) / 100;
    let validation = pool.split_off(training_len);
    Sample {
        training: pool,
        validation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embedded_payload() -> Vec<u8> {
        let mut payload = Vec::new();
        GzDecoder::new(EMBEDDED_GZ)
            .read_to_end(&mut payload)
            .unwrap();
        payload
    }

    fn gzip(payload: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(payload).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn embedded_file_decodes_to_ten_thousand_labelled_digits() {
        let digits = decode(EMBEDDED_GZ).unwrap();
        assert_eq!((digits.len(), digits.pixels_per_digit()), (10_000, 784));
        let mut per_class = [0usize; CLASSES as usize];
        for index in 0..digits.len() {
            per_class[usize::from(digits.label(index))] += 1;
        }
        assert!(per_class.iter().all(|&n| n > 800), "{per_class:?}");
        // Real digits: ink on a blank background, not noise.
        let ink = digits.pixels(0).iter().filter(|&&p| p > 128).count();
        assert!((50..400).contains(&ink), "{ink} dark pixels");
    }

    #[test]
    fn a_flipped_byte_in_the_gzip_stream_is_a_data_error() {
        let mut corrupt = EMBEDDED_GZ.to_vec();
        let middle = corrupt.len() / 2;
        corrupt[middle] ^= 0x40;
        assert!(decode(&corrupt).is_err());
    }

    #[test]
    fn a_flipped_pixel_fails_the_checksum() {
        let mut payload = embedded_payload();
        let last = payload.len() - 1;
        payload[last] ^= 1;
        assert!(matches!(
            decode(&gzip(&payload)),
            Err(DataError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn a_truncated_file_is_a_data_error() {
        let truncated = &EMBEDDED_GZ[..EMBEDDED_GZ.len() / 3];
        let error = decode(truncated).unwrap_err();
        assert!(matches!(error, DataError::Decompress(_)), "{error:?}");
        // What `run` returns for it.
        assert!(matches!(
            crate::DenseError::from(error),
            crate::DenseError::Data(_)
        ));
        assert!(matches!(
            decode(&[]),
            Err(DataError::Decompress(_)) | Err(DataError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn parse_rejects_bad_headers_sizes_and_labels_without_panicking() {
        let mut tiny = MAGIC.to_vec();
        for value in [2u32, 2, 2] {
            tiny.extend_from_slice(&value.to_le_bytes());
        }
        tiny.extend_from_slice(&[3, 7]);
        tiny.extend_from_slice(&[0; 8]);
        assert_eq!(parse(tiny.clone()).unwrap().len(), 2);

        let mut short = tiny.clone();
        short.pop();
        let mut bad_label = tiny.clone();
        bad_label[HEADER_LEN] = CLASSES;
        let mut huge_count = tiny.clone();
        huge_count[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut bad_magic = tiny;
        bad_magic[0] = b'X';
        for payload in [short, bad_label, huge_count, bad_magic, vec![1, 2, 3]] {
            assert!(matches!(parse(payload), Err(DataError::Malformed(_))));
        }
    }

    #[test]
    fn fixed_split_is_disjoint_complete_and_class_balanced() {
        let digits = decode(EMBEDDED_GZ).unwrap();
        let split = fixed_split(digits.len());
        assert_eq!((split.test.len(), split.pool.len()), (TEST_DIGITS, 8_000));
        let mut all: Vec<usize> = split.test.iter().chain(&split.pool).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..digits.len()).collect::<Vec<_>>());
        let mut per_class = [0usize; CLASSES as usize];
        for &index in &split.test {
            per_class[usize::from(digits.label(index))] += 1;
        }
        assert!(
            per_class.iter().all(|&n| (150..=260).contains(&n)),
            "{per_class:?}"
        );
    }

    #[test]
    fn sample_caps_at_the_pool_and_splits_eighty_twenty() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let capped = sample((0..8_000).collect(), 20_000, &mut rng);
        assert_eq!(
            (capped.training.len(), capped.validation.len()),
            (6_400, 1_600)
        );
        let small = sample((0..8_000).collect(), 13, &mut rng);
        assert_eq!((small.training.len(), small.validation.len()), (10, 3));
    }

    #[test]
    fn sample_depends_on_the_seed() {
        let draw = |seed| {
            sample(
                (0..8_000).collect(),
                100,
                &mut Pcg64Mcg::seed_from_u64(seed),
            )
            .training
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
    }
}
