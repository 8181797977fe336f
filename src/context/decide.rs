//! From probabilities to removals: threshold, optional smoothing, and the "best run"
//! post-processing the model was tuned with (`benches/context/train.py`, `decide`).
//!
//! Why the best run: a news or blog page is one contiguous stretch of content. After the
//! threshold, the single contiguous run of blocks that maximises (kept words - penalty x
//! removed words) is taken as the content; everything outside it goes even when the model
//! was unsure (a stray kept "Twitter" far below the article), and inside it the model's
//! decisions stand. On dragnet this added .02 kept-text F1 (see the research README).

use super::features::best_run;

/// What happened to one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Keep,
    /// Probability at or above the threshold.
    Model,
    /// Below the threshold but outside the best run of kept text.
    Run,
}

/// Decisions for one page from its blocks' probabilities `p` and word counts `words`.
pub fn decide(
    p: &[f64],
    words: &[f64],
    threshold: f64,
    alpha: f64,
    run_penalty: Option<f64>,
) -> Vec<Decision> {
    let mut out = Vec::new();
    decide_into(
        p,
        words,
        threshold,
        alpha,
        run_penalty,
        &mut Vec::new(),
        &mut out,
    );
    out
}

/// [`decide`] into `out` (replaced), with `smoothed` as scratch: the per-page buffers of
/// `clean --policy context` are reused from page to page (see `super::Scratch`).
pub fn decide_into(
    p: &[f64],
    words: &[f64],
    threshold: f64,
    alpha: f64,
    run_penalty: Option<f64>,
    smoothed: &mut Vec<f64>,
    out: &mut Vec<Decision>,
) {
    let n = p.len();
    // Without smoothing (the shipped model) the probabilities are used as they are.
    let q: &[f64] = if alpha == 0.0 || n < 2 {
        p
    } else {
        smoothed.clear();
        smoothed.extend((0..n).map(|i| {
            let nb = match i {
                0 => p[1],
                _ if i == n - 1 => p[n - 2],
                _ => (p[i - 1] + p[i + 1]) / 2.0,
            };
            (1.0 - alpha) * p[i] + alpha * nb
        }));
        smoothed
    };
    out.clear();
    out.extend(q.iter().map(|&q| {
        if q >= threshold {
            Decision::Model
        } else {
            Decision::Keep
        }
    }));
    if let Some(pen) = run_penalty {
        let scores = out.iter().zip(words).map(|(d, &w)| match d {
            Decision::Keep => w,
            _ => -pen * w,
        });
        let (a, b) = best_run(scores).map_or((n, n), |(a, b)| (a, b + 1));
        for (i, d) in out.iter_mut().enumerate() {
            if (i < a || i >= b) && *d == Decision::Keep {
                *d = Decision::Run;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;

    #[test]
    fn threshold_then_best_run() {
        let p = [0.9, 0.1, 0.2, 0.8, 0.3, 0.95, 0.1];
        let w = [3.0, 40.0, 30.0, 2.0, 50.0, 10.0, 4.0];
        assert_eq!(
            decide(&p, &w, 0.5, 0.0, None),
            [Model, Keep, Keep, Model, Keep, Model, Keep]
        );
        // Run 1..=4 (40+30-8+50 = 112); the stray kept block 6 goes.
        assert_eq!(
            decide(&p, &w, 0.5, 0.0, Some(4.0)),
            [Model, Keep, Keep, Model, Keep, Model, Run]
        );
        // Nothing kept: no run, everything removed.
        assert_eq!(
            decide(&[0.1, 0.2], &[0.0, 0.0], 0.5, 0.0, Some(4.0)),
            [Run, Run]
        );
        assert_eq!(decide(&[], &[], 0.5, 0.0, Some(4.0)), []);
    }

    #[test]
    fn smoothing_uses_the_neighbours() {
        // 0.5*0.6 + 0.5*mean(1.0, 0.0) = 0.55; edges use their one neighbour.
        let d = decide(&[1.0, 0.6, 0.0], &[1.0; 3], 0.55, 0.5, None);
        assert_eq!(d, [Model, Model, Keep]);
    }
}
