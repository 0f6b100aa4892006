//! The binary: logging, Config from env and flags, `app::run`, report, exit code.

use std::io::{self, Write};
use std::process::ExitCode;

use gitops_promote::actions::{FileCommands, Workflow};
use gitops_promote::core::render;
use gitops_promote::{app, config};

/// Exit codes: 0 success (with or without a change), 1 the run failed, 2 an input is wrong.
fn main() -> ExitCode {
    let in_actions = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let debug = std::env::var("RUNNER_DEBUG").is_ok_and(|v| v == "1");
    // Under Actions stdout carries workflow commands and the log; in a shell, messages go to
    // stderr and stdout carries only the diff, so it can be piped.
    let mut log: Workflow<Box<dyn Write>> = if in_actions {
        Workflow::new(Box::new(io::stdout()), true, debug)
    } else {
        Workflow::new(Box::new(io::stderr()), false, debug)
    };

    let config = match config::load(std::env::args_os()) {
        Ok(config) => config,
        Err(e) => {
            if let Some(clap) = e.downcast_ref::<clap::Error>() {
                let _ = clap.print();
                return ExitCode::from(if clap.use_stderr() { 2 } else { 0 });
            }
            let _ = log.error(&format!("{e:#}"), None);
            return ExitCode::from(2);
        }
    };

    // Outputs and the step summary, when the runner (or act) names their files; checked before
    // anything is written, so a wrong path fails the step with nothing changed.
    let files = FileCommands::from_env();
    if let Err(e) = files.check() {
        let _ = log.error(&format!("{:#}", anyhow::Error::from(e)), None);
        return ExitCode::FAILURE;
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = log.error(&format!("cannot start the async runtime: {e}"), None);
            return ExitCode::FAILURE;
        }
    };
    let run = runtime.block_on(async {
        let work = app::run(&config, &mut log);
        tokio::pin!(work);
        match tokio::time::timeout(app::time_limit(&config), &mut work).await {
            Ok(run) => run,
            // Said while the run's calls are still under way, so it can name them.
            Err(_) => Err(anyhow::anyhow!(
                "the run took longer than {} and was stopped{}; a write that was under way \
                 may have landed, so check the GitOps repository before running again",
                app::time_limit_text(&config),
                waiting_for()
            )),
        }
    });
    // A call on a blocking thread (the OIDC token request) may outlive the deadline: the run is
    // over, so do not wait for it.
    runtime.shutdown_background();
    match run {
        Ok(outcome) => {
            let diff = outcome.changes.diff();
            let shown = if in_actions {
                log.group("Diff")
                    .and_then(|()| log.verbatim(&diff))
                    .and_then(|()| log.end_group())
            } else {
                io::stdout().write_all(diff.as_bytes())
            };
            if shown.is_err() {
                return ExitCode::FAILURE;
            }
            let landing = &outcome.landing;
            let rollout = outcome.rollout.as_deref();
            let outputs = render::outputs(&outcome.changes, landing, rollout);
            let summary = render::step_summary(&outcome.changes, outcome.written, landing, rollout);
            let written = files
                .set_outputs(outputs.iter().map(|(name, value)| (*name, value.as_str())))
                .and_then(|()| files.append_summary(&summary));
            if let Err(e) = written {
                let _ = log.error(&format!("{:#}", anyhow::Error::from(e)), None);
                return ExitCode::FAILURE;
            }
            for failure in &outcome.failures {
                let _ = log.error(failure, None);
            }
            if outcome.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            if let Some(problems) = e.downcast_ref::<app::FileProblems>() {
                for (at, message) in &problems.0 {
                    let _ = log.error(message, Some(at));
                }
            }
            let _ = log.error(&format!("{e:#}"), None);
            ExitCode::FAILURE
        }
    }
}

/// What a run stopped by its deadline was waiting for, as " while waiting for ...".
fn waiting_for() -> String {
    let waiting = gitops_promote::inflight::waiting();
    if waiting.is_empty() {
        String::new()
    } else {
        format!(" while waiting for {}", waiting.join(", "))
    }
}
