//! Locality-sensitive hashing over MinHash signatures: `b` bands of `r` rows.
//!
//! Two signatures become a candidate pair when all `r` lanes of at least one band agree, which
//! happens with probability `1 - (1 - s^r)^b` for Jaccard similarity `s`. [`LshParams::optimal`]
//! picks `(b, r)` with `b * r <= K` that minimises the weighted area of false positives (below
//! the threshold) plus false negatives (above it), as datasketch does. That criterion leaves
//! pairs just above the threshold with a candidate probability of 0.4-0.7 (at t = 0.8, K = 128:
//! 9 x 13, P(0.8) = 0.40), i.e. it loses recall exactly where users set their threshold, so
//! dupsift's default is [`LshParams::with_recall`]: the cheapest `(b, r)` (least false-positive
//! area) whose candidate probability at the threshold is at least a target (0.995). Every
//! candidate is verified afterwards, so a false positive costs one comparison while a false
//! negative is a missed duplicate.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Bands x rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LshParams {
    pub bands: usize,
    pub rows: usize,
}

/// Default candidate probability at the threshold for [`LshParams::with_recall`].
pub const DEFAULT_RECALL: f64 = 0.995;

impl LshParams {
    /// The `(b, r)` with `b * r <= num_perm` minimising
    /// `w_fp * ∫_0^t P(s) ds + w_fn * ∫_t^1 (1 - P(s)) ds`.
    pub fn optimal(threshold: f64, num_perm: usize, weights: (f64, f64)) -> LshParams {
        let mut best = (f64::INFINITY, LshParams { bands: 1, rows: 1 });
        for bands in 1..=num_perm {
            for rows in 1..=num_perm / bands {
                let fp = integrate(|s| candidate_probability(s, bands, rows), 0.0, threshold);
                let fneg = integrate(
                    |s| 1.0 - candidate_probability(s, bands, rows),
                    threshold,
                    1.0,
                );
                let err = weights.0 * fp + weights.1 * fneg;
                if err < best.0 - 1e-12 {
                    best = (err, LshParams { bands, rows });
                }
            }
        }
        best.1
    }

    /// The `(b, r)` with `b * r <= num_perm` and `P(threshold) >= recall` that has the least
    /// false-positive area `∫_0^t P(s) ds`; when no split reaches `recall`, the one that comes
    /// closest.
    pub fn with_recall(threshold: f64, num_perm: usize, recall: f64) -> LshParams {
        let mut best: Option<(bool, f64, LshParams)> = None;
        for bands in 1..=num_perm {
            for rows in 1..=num_perm / bands {
                let p = LshParams { bands, rows };
                let reaches = p.probability(threshold) >= recall;
                let cost = if reaches {
                    integrate(|s| p.probability(s), 0.0, threshold)
                } else {
                    -p.probability(threshold)
                };
                let better = match best {
                    None => true,
                    Some((r, c, _)) => (reaches && !r) || (reaches == r && cost < c - 1e-12),
                };
                if better {
                    best = Some((reaches, cost, p));
                }
            }
        }
        best.expect("num_perm >= 1").2
    }

    /// Lanes used (`bands * rows`).
    pub fn lanes(&self) -> usize {
        self.bands * self.rows
    }

    /// Probability that a pair of similarity `s` becomes a candidate.
    pub fn probability(&self, s: f64) -> f64 {
        candidate_probability(s, self.bands, self.rows)
    }

    /// The hash of band `band` of `sig` (lanes `band*r .. (band+1)*r`), seeded by the band index
    /// so equal lane values in different bands do not collide.
    #[inline]
    pub fn band_hash(&self, sig: &[u32], band: usize) -> u64 {
        let lanes = &sig[band * self.rows..(band + 1) * self.rows];
        let mut bytes = [0u8; 256];
        let len = lanes.len() * 4;
        if len <= bytes.len() {
            for (chunk, v) in bytes.chunks_exact_mut(4).zip(lanes) {
                chunk.copy_from_slice(&v.to_le_bytes());
            }
            xxh3_64_with_seed(&bytes[..len], band as u64)
        } else {
            let v: Vec<u8> = lanes.iter().flat_map(|v| v.to_le_bytes()).collect();
            xxh3_64_with_seed(&v, band as u64)
        }
    }
}

/// `1 - (1 - s^r)^b`.
pub fn candidate_probability(s: f64, bands: usize, rows: usize) -> f64 {
    1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32)
}

fn integrate(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    // Midpoint rule; the integrands are smooth and this only ranks candidates.
    let steps = 200;
    let h = (b - a) / steps as f64;
    (0..steps).map(|i| f(a + (i as f64 + 0.5) * h)).sum::<f64>() * h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimal_params_fit_k_and_put_the_s_curve_near_the_threshold() {
        for &t in &[0.5, 0.7, 0.8, 0.9] {
            let p = LshParams::optimal(t, 128, (0.5, 0.5));
            assert!(p.lanes() <= 128);
            assert!(p.probability(t + 0.1) > 0.5, "{t} {p:?}");
            assert!(p.probability(t - 0.3) < 0.5, "{t} {p:?}");
        }
        for &t in &[0.5, 0.7, 0.8, 0.9] {
            let p = LshParams::with_recall(t, 128, 0.995);
            assert!(p.lanes() <= 128 && p.probability(t) >= 0.995, "{t} {p:?}");
            assert!(p.probability(t / 2.0) < 0.5, "{t} {p:?}");
        }
        let weighted = LshParams::optimal(0.8, 128, (0.5, 0.5));
        assert!(weighted.probability(0.8) < 0.9, "{weighted:?}");
    }

    #[test]
    fn band_hash_depends_on_band_and_values() {
        let p = LshParams { bands: 2, rows: 2 };
        let sig = [1, 2, 1, 2];
        assert_ne!(p.band_hash(&sig, 0), p.band_hash(&sig, 1));
        assert_eq!(p.band_hash(&sig, 0), p.band_hash(&[1, 2, 9, 9], 0));
    }
}
