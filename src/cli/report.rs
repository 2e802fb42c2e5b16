//! What resplay says on stderr about a run besides its result: a loader's
//! warnings, what each fault rule did, an upstream left unverified. Every
//! subcommand words these the same way, so they are written once.

use resplay::fault::Faults;
use resplay::replay::overlay::ReportWriter;
use resplay::upstream::Upstream;

/// Prints a loader's warnings (a torn last line).
pub fn print_warnings(warnings: &[String]) {
    for warning in warnings {
        eprintln!("resplay: warning: {warning}");
    }
}

/// What each fault rule did, so a run shows its faults really fired.
pub fn report_faults(faults: &Faults) {
    for info in faults.list() {
        eprintln!(
            "resplay: fault #{} '{}': fired {} time(s) for {} matching command(s)",
            info.id, info.rule, info.fired, info.seen
        );
    }
}

/// Says, on every start, that the upstream's certificate goes unchecked.
pub fn warn_if_insecure(upstream: Option<&Upstream>) {
    if let Some(upstream) =
        upstream.filter(|u| u.tls.as_ref().is_some_and(|t| t.options().insecure))
    {
        eprintln!(
            "resplay: warning: --tls-insecure: the certificate of upstream {} is not verified",
            upstream.addr
        );
    }
}

/// What draws a replay's HTML report (`--report`) for steering and `run`,
/// which sit below the report in the crate's layers.
pub fn report_writer() -> ReportWriter {
    ReportWriter::new(|cassette, overlay, out| {
        resplay::report::write_report(cassette, overlay, out)
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))
    })
}
