//! Editor speed: how long one promotion's edit of a kustomization file takes, on the bundled
//! example's overlay and on a large generated file. Run with `cargo bench` (or scripts/bench).
//! Each figure is the fastest of several rounds of many iterations, to keep noise out.

// A benchmark's report is its stdout.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use gitops_promote::core::kustomization::{Target, edit, image_entries};

const TARGETS: [Target<'static>; 2] = [
    Target {
        image: "backend",
        tag: "sha-1a2b3c4",
        digest: None,
    },
    Target {
        image: "frontend",
        tag: "sha-1a2b3c4",
        digest: None,
    },
];

/// The fastest per-iteration time over `rounds` rounds of `iters` calls.
fn measure(rounds: u32, iters: u32, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed() / iters
        })
        .min()
        .unwrap_or_default()
}

fn report(name: &str, bytes: usize, per_iter: Duration) {
    let mb_s = bytes as f64 / per_iter.as_secs_f64() / 1e6;
    println!(
        "{name:<48} {:>10.1} µs/edit {mb_s:>8.1} MB/s ({bytes} bytes)",
        per_iter.as_secs_f64() * 1e6
    );
}

fn main() {
    let overlay = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/flux-gitops-pipeline/apps/sample-saas-app/overlays/analytics/kustomization.yaml"
    ))
    .expect("the example overlay");
    let t = measure(10, 2_000, || {
        black_box(edit(black_box(&overlay), &TARGETS).expect("edits"));
    });
    report("edit: example analytics overlay", overlay.len(), t);

    let t = measure(10, 2_000, || {
        black_box(image_entries(black_box(&overlay)).expect("lists"));
    });
    report("scan: example analytics overlay", overlay.len(), t);

    // A large kustomization: 1000 images entries, comments, two of them promoted.
    let mut big =
        String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n");
    for i in 0..1000 {
        let name = match i {
            10 => "backend".to_owned(),
            900 => "frontend".to_owned(),
            _ => format!("service-{i:04}"),
        };
        big.push_str(&format!(
            "  # {name}\n  - name: {name}\n    newName: 123456789012.dkr.ecr.us-east-1.amazonaws.com/team/{name}\n    newTag: v1.{i} # {{\"$imagepolicy\": \"flux-system:{name}:tag\"}}\n"
        ));
    }
    let t = measure(5, 50, || {
        black_box(edit(black_box(&big), &TARGETS).expect("edits"));
    });
    report("edit: 1000 images entries", big.len(), t);
}
