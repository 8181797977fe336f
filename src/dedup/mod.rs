//! Document-level near-duplicate removal at corpus scale (`dupsift dedup`).
//!
//! Three stages, each a library step so shards can run the first on many machines:
//! 1. [`sign::sign_corpus`]: stream the inputs, compute every document's MinHash signature,
//!    exact key and sizes in parallel batches, and write them to a signature file
//!    ([`sigfile`], documented there). With template-aware similarity a first pass learns the
//!    corpus's template tokens ([`template`]).
//! 2. [`link::link`]: exact duplicates by key, then LSH bands one at a time over sorted flat
//!    arrays, every candidate pair verified before it becomes an edge, union-find clusters.
//! 3. [`write`]: re-read the inputs and copy the kept records' raw bytes; write the clusters
//!    report.
//!
//! All temporary files live in one temporary directory (next to the output unless told
//! otherwise) that is removed at the end. Standard input is spooled there first, because the
//! output stage reads the input a second time.

pub mod link;
pub mod mapped;
pub mod record;
pub mod sigfile;
pub mod sign;
pub mod template;
pub mod write;

use crate::error::{Error, Result};
use crate::output::{parent_dir, refuse_overwriting_inputs, AtomicFile, FinishedFile};
use crate::pipeline::{ReadOptions, ReadStats};
pub use link::{Keep, LinkParams, LinkStats, Verify};
pub use sigfile::Sketch;
pub use sign::SignParams;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
pub use template::TemplateParams;

/// Everything `dedup` needs to decide.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DedupParams {
    pub sign: SignParams,
    pub link: LinkParams,
}

impl DedupParams {
    /// Checks ranges and makes the stages agree (exact verification needs stored sets).
    pub fn validate(mut self) -> Result<Self> {
        let unit = |name: &str, v: f64| {
            if v > 0.0 && v <= 1.0 {
                Ok(())
            } else {
                Err(Error::Usage(format!("{name} must be in (0, 1], got {v}")))
            }
        };
        unit("--threshold", self.link.threshold)?;
        if let Some(c) = self.link.containment {
            unit("--containment", c)?;
        }
        if let Some(t) = &self.sign.template {
            unit("--template-df", t.max_df)?;
        }
        if self.sign.num_perm == 0 || self.sign.num_perm > 1024 {
            return Err(Error::Usage("--num-perm must be in 1..=1024".into()));
        }
        if let Some(p) = self.link.bands_rows {
            if p.bands == 0 || p.rows == 0 || p.lanes() > self.sign.num_perm {
                return Err(Error::Usage(format!(
                    "--bands {} x --rows {} must be at least 1 x 1 and use at most --num-perm {} lanes",
                    p.bands, p.rows, self.sign.num_perm
                )));
            }
        }
        if self.sign.ngram == 0 {
            return Err(Error::Usage("--ngram must be at least 1".into()));
        }
        // Recheck reads sets from the text when it can (see `dedup`); stored sets otherwise.
        self.sign.keep_sets = self.link.verify != Verify::Estimate;
        Ok(self)
    }
}

/// Where results go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupOutputs {
    /// Kept records (JSONL).
    pub kept: PathBuf,
    /// Optional clusters report (JSONL).
    pub clusters: Option<PathBuf>,
    /// Directory for temporary files (default: the directory of `kept`).
    pub tmp_dir: Option<PathBuf>,
}

/// What a dedup run did.
#[derive(Debug, Clone, Default)]
pub struct DedupSummary {
    pub read: ReadStats,
    pub link: LinkStats,
    /// Corpus-wide template tokens and (group, token) template pairs removed.
    pub template_tokens: (usize, usize),
    pub kept_written: u64,
    pub cluster_lines: u64,
    /// Wall-clock seconds of the sign, link and write stages (for the stderr summary).
    pub seconds: [f64; 3],
}

/// Runs the three stages and commits the outputs atomically.
pub fn dedup(
    inputs: &[PathBuf],
    opts: &ReadOptions,
    params: &DedupParams,
    outputs: &DedupOutputs,
) -> Result<DedupSummary> {
    let params = params.clone().validate()?;
    refuse_overwriting_inputs(&outputs.kept, inputs)?;
    if let Some(c) = &outputs.clusters {
        refuse_overwriting_inputs(c, inputs)?;
        if c == &outputs.kept {
            return Err(Error::Usage("-o and --clusters name the same file".into()));
        }
    }
    let tmp_parent = match &outputs.tmp_dir {
        Some(d) => d.clone(),
        None => parent_dir(&outputs.kept).to_path_buf(),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".dupsift-dedup-")
        .suffix(".tmp") // named like AtomicFile's leftovers: see crate::output
        .tempdir_in(&tmp_parent)
        .map_err(|e| Error::io(&tmp_parent, "cannot create temporary directory", e))?;
    let inputs = spool_stdin(inputs, tmp.path())?;

    let clock = std::time::Instant::now();
    let sig_path = tmp.path().join("signatures.sig");
    let mapped = mapped::MappedInputs::open(&inputs)?;
    let mut sign_params = params.sign.clone();
    if mapped.is_some() && params.link.verify == Verify::Recheck {
        // Borderline pairs are rechecked from the mapped text: no sets to store.
        sign_params.keep_sets = false;
    }
    let (signed, spans, signer) =
        sign::sign_inputs(&inputs, mapped.as_ref(), opts, &sign_params, &sig_path)?;
    let sig = sigfile::SigReader::open(&sig_path)?;
    let signed_at = clock.elapsed().as_secs_f64();
    let text_sets = mapped.as_ref().map(|m| mapped::TextSets {
        mapped: m,
        spans: &spans,
        signer: &signer,
        fields: &opts.fields,
    });
    let stored_sets = link::StoredSets(&sig);
    let sets: &dyn link::SetSource = match &text_sets {
        Some(t) if !sign_params.keep_sets => t,
        _ => &stored_sets,
    };
    let rechecker = (params.link.verify == Verify::Recheck)
        .then(|| link::Rechecker::new(params.link.threshold, sig.params().num_perm as usize, sets));
    let clustering = link::link_with(&sig, &params.link, tmp.path(), rechecker.as_ref())?;
    let linked_at = clock.elapsed().as_secs_f64();

    // The kept records and the clusters report are independent: written (and synced) on two
    // threads at once, then published together only when both were written, so a failure
    // in either leaves neither behind (as when they were written one after the other).
    let skipped: HashSet<String> = signed
        .stats
        .skipped
        .iter()
        .map(|s| s.location.clone())
        .collect();
    let write_kept = || -> Result<(u64, FinishedFile)> {
        let mut kept_file = AtomicFile::create(&outputs.kept)?;
        let written = match &mapped {
            Some(m) => write::write_kept_mapped(m, &spans, &clustering, &mut kept_file)?,
            None => write::write_kept(
                &inputs,
                &opts.fields,
                opts.skip_bad,
                &skipped,
                &clustering,
                &mut kept_file,
            )?,
        };
        Ok((written, kept_file.finish()?))
    };
    let write_clusters = || -> Result<(u64, Option<FinishedFile>)> {
        let Some(path) = &outputs.clusters else {
            return Ok((0, None));
        };
        let mut f = AtomicFile::create(path)?;
        let lines = write::write_clusters(
            &sig,
            &clustering,
            params.link.verify,
            rechecker.as_ref(),
            &mut f,
        )?;
        Ok((lines, Some(f.finish()?)))
    };
    let ((kept_written, kept_file), (cluster_lines, clusters_file)) =
        std::thread::scope(|scope| {
            let kept = scope.spawn(write_kept);
            let lines = write_clusters();
            let kept = kept.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            Ok::<_, Error>((kept?, lines?))
        })?;
    kept_file.publish()?;
    if let Some(f) = clusters_file {
        f.publish()?;
    }
    Ok(DedupSummary {
        read: signed.stats,
        link: clustering.stats,
        template_tokens: signed.template_tokens,
        kept_written,
        cluster_lines,
        seconds: [
            signed_at,
            linked_at - signed_at,
            clock.elapsed().as_secs_f64() - linked_at,
        ],
    })
}

/// Replaces `-` by a copy of standard input in `dir` (read once, then read like a file).
fn spool_stdin(inputs: &[PathBuf], dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::with_capacity(inputs.len());
    let mut spooled = false;
    for input in inputs {
        if !crate::corpus::is_stdin(input) {
            out.push(input.clone());
            continue;
        }
        if spooled {
            return Err(Error::Usage("standard input (-) given twice".into()));
        }
        let path = dir.join("stdin.jsonl");
        // Raw bytes: the reader detects compression by magic bytes, not by name.
        let mut reader = std::io::stdin().lock();
        let mut file = std::fs::File::create(&path)
            .map_err(|e| Error::io(&path, "cannot spool standard input", e))?;
        std::io::copy(&mut reader, &mut file)
            .map_err(|e| Error::io("<stdin>", "cannot spool standard input", e))?;
        out.push(path);
        spooled = true;
    }
    Ok(out)
}
