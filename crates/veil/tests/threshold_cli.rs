//! t-out-of-N decryption and key switching to a target's key, each step a separate `veil`
//! process working on files: the breast-cancer rows scored by a linear model under the
//! collective key of the parties, then decrypted by any t of them, or switched to a target who
//! alone decrypts.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use support::{mode, veil, write_csv};

const PRESET: &str = "insecure_n2048_l4_dnum3";
const WIDTH: usize = 32;
const ROWS: usize = 24;

fn p(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

/// One party's view of the job: session, exchange directory, its own key directory.
struct Job {
    dir: tempfile::TempDir,
    session: PathBuf,
    exchange: PathBuf,
    want: Vec<f64>,
}

impl Job {
    fn keys(&self, party: u32) -> PathBuf {
        self.dir.path().join(format!("keys-{party}"))
    }

    /// `veil threshold <step> --session S --dir X --key-dir K(party) [--party i] extra...`.
    fn args(&self, step: &str, party: Option<u32>, extra: &[String]) -> Vec<String> {
        let mut a =
            vec!["threshold".to_string(), step.to_string(), "--session".into(), p(&self.session), "--dir".into(), p(&self.exchange)];
        a.extend(["--key-dir".to_string(), p(&self.keys(party.unwrap_or(1)))]);
        if let Some(i) = party {
            a.extend(["--party".to_string(), i.to_string()]);
        }
        a.extend(extra.iter().cloned());
        a
    }

    fn ok(&self, step: &str, party: Option<u32>, extra: &[String]) -> String {
        let args = self.args(step, party, extra);
        let out = veil(&args, Duration::from_secs(120));
        assert!(out.status.success(), "veil {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a step that must fail; returns its standard error.
    fn fails(&self, step: &str, party: Option<u32>, extra: &[String]) -> String {
        let args = self.args(step, party, extra);
        let out = veil(&args, Duration::from_secs(120));
        assert!(!out.status.success(), "veil {args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
        assert!(out.stdout.is_empty(), "a failed step printed {:?}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8(out.stderr).unwrap()
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Collective keys of `parties` parties (threshold `t`), breast-cancer rows and a linear model
/// encrypted under them, and the encrypted scores in `exchange/score.ct`.
fn scored_job(parties: u32, t: u32) -> Job {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/tabular/breast_cancer.csv");
    let (set, _) = veil_ml::data::breast_cancer_split(&data, ROWS, 5).unwrap();
    let rows: Vec<Vec<f64>> = (0..ROWS).map(|i| set.x.row(i).iter().copied().chain([1.0]).collect()).collect();
    let w: Vec<f64> = (0..rows[0].len()).map(|k| ((k * 7 % 11) as f64 - 5.0) / 20.0).collect();
    let want = rows.iter().map(|r| r.iter().zip(&w).map(|(a, b)| a * b).sum()).collect();
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("session.toml");
    let exchange = dir.path().join("exchange");
    std::fs::create_dir(&exchange).unwrap();
    let job = Job { session, exchange, want, dir };
    for i in 1..=parties {
        std::fs::create_dir(job.keys(i)).unwrap();
    }
    let init = s(&[
        "threshold",
        "init",
        "--parties",
        &parties.to_string(),
        "--threshold",
        &t.to_string(),
        "--preset",
        PRESET,
        "--out",
        &p(&job.session),
    ]);
    assert!(veil(&init, Duration::from_secs(60)).status.success());
    let width = WIDTH.to_string();
    for i in 1..=parties {
        job.ok("keygen-share", Some(i), &[]);
    }
    job.ok("aggregate-pk", None, &[]);
    for step in ["relin-round1", "relin-round2"] {
        for i in 1..=parties {
            job.ok(step, Some(i), &[]);
        }
    }
    for i in 1..=parties {
        job.ok("rotation-share", Some(i), &s(&["--width", &width]));
    }
    job.ok("aggregate-eval-keys", None, &s(&["--width", &width]));
    let (a_csv, w_csv) = (job.dir.path().join("rows.csv"), job.dir.path().join("w.csv"));
    write_csv(&a_csv, &rows);
    write_csv(&w_csv, std::slice::from_ref(&w));
    let (a_ct, w_ct, score) = (job.exchange.join("a.ct"), job.exchange.join("w.ct"), job.exchange.join("score.ct"));
    job.ok("encrypt", None, &s(&["--input", &p(&a_csv), "--width", &width, "--out", &p(&a_ct)]));
    job.ok("encrypt", None, &s(&["--input", &p(&w_csv), "--width", &width, "--replicate", "--out", &p(&w_ct)]));
    job.ok("evaluate", None, &s(&["--a", &p(&a_ct), "--b", &p(&w_ct), "--width", &width, "--out", &p(&score)]));
    job
}

fn output_args() -> Vec<String> {
    s(&["--width", &WIDTH.to_string(), "--count", &ROWS.to_string(), "--json"])
}

fn max_err(out: &str, want: &[f64]) -> f64 {
    let got: Vec<f64> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).map(|(g, e)| (g - e).abs()).fold(0.0, f64::max)
}

#[test]
fn any_two_of_three_parties_decrypt_and_one_alone_cannot() {
    let job = scored_job(3, 2);
    let score = p(&job.exchange.join("score.ct"));
    // Re-sharing: each party deals into its outbox; every sub-share travels to its recipient.
    for i in 1..=3u32 {
        let outbox = job.dir.path().join(format!("outbox-{i}"));
        job.ok("reshare-deal", Some(i), &s(&["--out", &p(&outbox)]));
        for j in 1..=3u32 {
            let name = format!("party-{i}.to-{j}.subshare");
            #[cfg(unix)]
            assert_eq!(mode(&outbox.join(&name)), 0o600, "{name}");
            let inbox = job.dir.path().join(format!("inbox-{j}"));
            std::fs::create_dir_all(&inbox).unwrap();
            std::fs::rename(outbox.join(&name), inbox.join(&name)).unwrap();
        }
    }
    // A tampered sub-share, and one addressed to another party, are rejected by name.
    let bad = job.dir.path().join("inbox-bad");
    std::fs::create_dir(&bad).unwrap();
    for i in 1..=3u32 {
        let name = format!("party-{i}.to-1.subshare");
        std::fs::copy(job.dir.path().join("inbox-1").join(&name), bad.join(&name)).unwrap();
    }
    let target = bad.join("party-2.to-1.subshare");
    let mut bytes = std::fs::read(&target).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&target, &bytes).unwrap();
    let err = job.fails("reshare-combine", Some(1), &s(&["--inbox", &p(&bad)]));
    assert!(err.contains("authentication tag mismatch") && err.contains("party-2.to-1"), "{err}");
    std::fs::copy(job.dir.path().join("inbox-3").join("party-2.to-3.subshare"), &target).unwrap();
    let err = job.fails("reshare-combine", Some(1), &s(&["--inbox", &p(&bad)]));
    assert!(err.contains("Shamir sub-share from party #2"), "{err}");
    assert!(!job.keys(1).join("party-1.tshare").exists());

    for j in 1..=3u32 {
        let inbox = job.dir.path().join(format!("inbox-{j}"));
        job.ok("reshare-combine", Some(j), &s(&["--inbox", &p(&inbox)]));
        assert_eq!(std::fs::read_dir(&inbox).unwrap().count(), 0, "sub-shares left in {}", inbox.display());
        #[cfg(unix)]
        assert_eq!(mode(&job.keys(j).join(format!("party-{j}.tshare"))), 0o600);
    }

    // Every pair decrypts: the first member releases a flooded share, the second merges it
    // with its own; and an outsider (the third party) merges the two released shares.
    let share = |i: u32, coalition: &str| -> String {
        let out = p(&job.exchange.join(format!("share-{i}-for-{}", coalition.replace(',', ""))));
        job.ok("partial-decrypt", Some(i), &s(&["--coalition", coalition, "--ct", &score, "--out", &out]));
        out
    };
    for (a, b, outsider) in [(1u32, 2u32, 3u32), (1, 3, 2), (2, 3, 1)] {
        let coalition = format!("{a},{b}");
        let from_a = share(a, &coalition);
        let mut args = s(&["--coalition", &coalition, "--ct", &score, "--shares", &from_a]);
        args.extend(output_args());
        let err = max_err(&job.ok("merge", Some(b), &args), &job.want);
        assert!(err < 1e-2, "coalition {coalition}, merged by {b}: error {err}");
        let from_b = share(b, &coalition);
        let mut args = s(&["--coalition", &coalition, "--ct", &score, "--shares", &from_a, &from_b]);
        args.extend(output_args());
        let err = max_err(&job.ok("merge", Some(outsider), &args), &job.want);
        assert!(err < 1e-2, "coalition {coalition}, merged by outsider {outsider}: error {err}");
    }

    // One party alone: no decryption share for a coalition below the threshold, and no merge
    // of fewer than t shares.
    let lone = p(&job.exchange.join("lone.share"));
    let err = job.fails("partial-decrypt", Some(1), &s(&["--coalition", "1", "--ct", &score, "--out", &lone]));
    assert!(err.contains("threshold is 2"), "{err}");
    let from_1 = p(&job.exchange.join("share-1-for-12"));
    let mut args = s(&["--coalition", "1,2", "--ct", &score, "--shares", &from_1]);
    args.extend(output_args());
    let err = job.fails("merge", Some(3), &args);
    assert!(err.contains("missing from parties [PartyId(2)]"), "{err}");
    // A share made for another coalition does not stand in for a missing member.
    let from_3 = p(&job.exchange.join("share-3-for-23"));
    let mut args = s(&["--coalition", "1,2", "--ct", &score, "--shares", &from_1, &from_3]);
    args.extend(output_args());
    let err = job.fails("merge", Some(3), &args);
    assert!(err.contains("coalition"), "{err}");
    // Nor does the party's own N-out-of-N merge work without the others.
    let mut args = s(&["--ct", &score, "--shares", &from_1]);
    args.extend(output_args());
    job.fails("merge", Some(2), &args);

    // Key switching by a coalition of t = 2 toward a target, from the threshold shares.
    let (tsk, tpk) = (job.dir.path().join("target.secret"), job.exchange.join("target.pk"));
    let keygen = s(&["threshold", "target-keygen", "--preset", PRESET, "--secret", &p(&tsk), "--public", &p(&tpk)]);
    assert!(veil(&keygen, Duration::from_secs(60)).status.success());
    let mut shares = Vec::new();
    for i in [1u32, 3] {
        let out = p(&job.exchange.join(format!("ks-{i}")));
        job.ok("key-switch-share", Some(i), &s(&["--coalition", "1,3", "--ct", &score, "--target", &p(&tpk), "--out", &out]));
        shares.push(out);
    }
    let switched = p(&job.exchange.join("switched.ct"));
    let mut args = s(&["--ct", &score, "--target", &p(&tpk), "--out", &switched, "--shares"]);
    args.extend(shares);
    job.ok("key-switch", None, &args);
    let mut dec = s(&["threshold", "target-decrypt", "--preset", PRESET, "--secret", &p(&tsk), "--ct", &switched]);
    dec.extend(output_args());
    let out = veil(&dec, Duration::from_secs(60));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = max_err(&String::from_utf8(out.stdout).unwrap(), &job.want);
    assert!(err < 1e-2, "target decryption error {err}");
}

#[test]
fn key_switching_delivers_the_result_to_the_target_alone() {
    let job = scored_job(2, 2);
    let score = p(&job.exchange.join("score.ct"));
    let target_dir = job.dir.path().join("target");
    std::fs::create_dir(&target_dir).unwrap();
    let (tsk, tpk) = (target_dir.join("target.secret"), job.exchange.join("target.pk"));
    let keygen = s(&["threshold", "target-keygen", "--preset", PRESET, "--secret", &p(&tsk), "--public", &p(&tpk)]);
    let out = veil(&keygen, Duration::from_secs(60));
    assert!(out.status.success() && out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    #[cfg(unix)]
    assert_eq!(mode(&tsk), 0o600);

    let shares: Vec<String> = (1..=2u32)
        .map(|i| {
            let out = p(&job.exchange.join(format!("ks-{i}")));
            job.ok("key-switch-share", Some(i), &s(&["--ct", &score, "--target", &p(&tpk), "--out", &out]));
            out
        })
        .collect();
    let switched = job.exchange.join("switched.ct");
    let mut args = s(&["--ct", &score, "--target", &p(&tpk), "--out", &p(&switched), "--shares"]);
    args.extend(shares.iter().cloned());
    job.ok("key-switch", None, &args);
    // One share is not enough, and a share for another ciphertext is rejected.
    let mut args = s(&["--ct", &score, "--target", &p(&tpk), "--out", &p(&job.exchange.join("x.ct")), "--shares", &shares[0]]);
    let err = job.fails("key-switch", None, &args);
    assert!(err.contains("missing from parties [PartyId(2)]"), "{err}");
    args.truncate(args.len() - 2);
    let other = p(&job.exchange.join("ks-other"));
    job.ok("key-switch-share", Some(2), &s(&["--ct", &p(&job.exchange.join("a.ct")), "--target", &p(&tpk), "--out", &other]));
    args.extend(["--shares".to_string(), shares[0].clone(), other]);
    let err = job.fails("key-switch", None, &args);
    assert!(err.contains("another ciphertext") || err.contains("context"), "{err}");

    let decrypt_with = |secret: &Path| -> Output {
        let mut dec = s(&["threshold", "target-decrypt", "--preset", PRESET, "--secret", &p(secret), "--ct", &p(&switched)]);
        dec.extend(output_args());
        veil(&dec, Duration::from_secs(60))
    };
    let out = decrypt_with(&tsk);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = max_err(&String::from_utf8(out.stdout).unwrap(), &job.want);
    assert!(err < 1e-2, "target decryption error {err}");

    // Nobody else reads it: another key pair, and the parties' own collective decryption,
    // yield values unrelated to the scores.
    let (osk, opk) = (target_dir.join("other.secret"), target_dir.join("other.pk"));
    let keygen = s(&["threshold", "target-keygen", "--preset", PRESET, "--secret", &p(&osk), "--public", &p(&opk)]);
    assert!(veil(&keygen, Duration::from_secs(60)).status.success());
    let out = decrypt_with(&osk);
    if out.status.success() {
        let err = max_err(&String::from_utf8(out.stdout).unwrap(), &job.want);
        assert!(err > 1.0, "another key decrypts the switched result (error {err})");
    }
    let from_2 = p(&job.exchange.join("pd-2"));
    job.ok("partial-decrypt", Some(2), &s(&["--ct", &p(&switched), "--out", &from_2]));
    let mut args = s(&["--ct", &p(&switched), "--shares", &from_2]);
    args.extend(output_args());
    let err = max_err(&job.ok("merge", Some(1), &args), &job.want);
    assert!(err > 1.0, "the parties decrypt the switched result (error {err})");
}
