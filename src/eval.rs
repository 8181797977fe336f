//! `eval`: how well dupsift's outputs agree with labels.
//!
//! Three questions, one module each, all reading the files dupsift itself writes:
//! - [`pairs`]: are the duplicate clusters of `dedup --clusters` right? Pairwise precision,
//!   recall and F1 (a pair of documents is positive when both sit in one cluster), plus the
//!   adjusted Rand index when the labels are groups.
//! - [`blocks`]: are the spans `clean --report` removed the boilerplate blocks? Block-level
//!   precision, recall and F1.
//! - [`text`]: is the text `clean` kept the main text? Bag-of-word-4-gram precision, recall
//!   and F1 per document, averaged (the article-extraction benchmark's measure).
//!
//! Every score is a [`Prf`] built from counts, so reports can show the counts behind a ratio.

pub mod blocks;
pub mod pairs;
mod read;
pub mod text;

use serde::Serialize;

/// Counts behind precision, recall and F1 (serialized with the three ratios next to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prf {
    /// Predicted items that are labelled positive.
    pub true_positives: u64,
    /// Items predicted positive.
    pub predicted: u64,
    /// Items labelled positive.
    pub gold: u64,
}

impl Prf {
    /// Share of predictions that are right. With nothing predicted it is 1 when nothing was to
    /// be found and 0 otherwise, so an empty answer never scores well on a non-empty task.
    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.predicted, self.gold == 0)
    }

    /// Share of labelled positives that were found (1 when there are none and none predicted).
    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.gold, self.predicted == 0)
    }

    /// Harmonic mean of precision and recall (0 when both are 0).
    pub fn f1(&self) -> f64 {
        f1(self.precision(), self.recall())
    }

    /// Adds another set of counts (micro-averaging).
    pub fn add(&mut self, other: Prf) {
        self.true_positives += other.true_positives;
        self.predicted += other.predicted;
        self.gold += other.gold;
    }

    /// The three ratios, for reports.
    pub fn scores(&self) -> Scores {
        Scores {
            precision: self.precision(),
            recall: self.recall(),
            f1: self.f1(),
        }
    }
}

impl Serialize for Prf {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Prf", 6)?;
        st.serialize_field("precision", &self.precision())?;
        st.serialize_field("recall", &self.recall())?;
        st.serialize_field("f1", &self.f1())?;
        st.serialize_field("true_positives", &self.true_positives)?;
        st.serialize_field("predicted", &self.predicted)?;
        st.serialize_field("gold", &self.gold)?;
        st.end()
    }
}

/// Precision, recall and F1 as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Scores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl std::fmt::Display for Scores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "precision {:.4}  recall {:.4}  F1 {:.4}",
            self.precision, self.recall, self.f1
        )
    }
}

fn ratio(num: u64, den: u64, empty_is_perfect: bool) -> f64 {
    if den == 0 {
        if empty_is_perfect {
            1.0
        } else {
            0.0
        }
    } else {
        num as f64 / den as f64
    }
}

/// Harmonic mean of `p` and `r`; 0 when both are 0.
pub fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prf_ratios_and_empty_conventions() {
        let p = Prf {
            true_positives: 3,
            predicted: 4,
            gold: 6,
        };
        assert_eq!(p.precision(), 0.75);
        assert_eq!(p.recall(), 0.5);
        assert!((p.f1() - 0.6).abs() < 1e-12);
        let nothing = Prf::default();
        assert_eq!(nothing.scores().f1, 1.0);
        let missed = Prf {
            true_positives: 0,
            predicted: 0,
            gold: 2,
        };
        assert_eq!(
            (missed.precision(), missed.recall(), missed.f1()),
            (0.0, 0.0, 0.0)
        );
    }
}
