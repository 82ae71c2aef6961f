//! `calm run` through the binary: exit codes, and snapshots of the runtime and data errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("calm-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn calm(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_calm"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run calm")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn default_program_runs_and_prints_the_deadlocks() {
    let dir = scratch("default");
    let o = calm(&["run"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn success_writes_outputs_and_printsize() {
    let dir = scratch("ok");
    std::fs::write(
        dir.join("p.dl"),
        ".decl e(a: number, b: symbol)\n.input e\n.output e\n.printsize e\n",
    )
    .unwrap();
    std::fs::write(dir.join("e.facts"), "2\tb\n1\ta\n-3\tc\n").unwrap();
    let o = calm(&["run", "p.dl", "-D", "out"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "e\t3\n");
    assert_eq!(
        std::fs::read_to_string(dir.join("out/e.csv")).unwrap(),
        "-3\tc\n1\ta\n2\tb\n"
    );
}

#[test]
fn program_errors_exit_1_with_rendered_diagnostics() {
    let dir = scratch("diag");
    std::fs::write(dir.join("p.dl"), "p(x, y) :- q(x).\nq(1).\n").unwrap();
    let o = calm(&["run", "p.dl"], &dir);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!(stderr(&o));
}

#[test]
fn syntax_errors_exit_1() {
    let dir = scratch("syntax");
    std::fs::write(dir.join("p.dl"), "p(1 :- q.\n").unwrap();
    let o = calm(&["run", "p.dl"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("error[E0"), "{}", stderr(&o));
}

#[test]
fn division_by_zero_is_a_runtime_error_with_the_rule() {
    let dir = scratch("div");
    std::fs::write(
        dir.join("p.dl"),
        "n(0).\nn(1).\nq(y) :- n(x), y = 10 / x.\n.output q\n",
    )
    .unwrap();
    let o = calm(&["run", "p.dl"], &dir);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!(stderr(&o));
}

#[test]
fn bad_fact_file_is_a_data_error_with_its_location() {
    let dir = scratch("facts");
    std::fs::write(
        dir.join("p.dl"),
        ".decl e(a: number, b: number)\n.input e\n.printsize e\n",
    )
    .unwrap();
    std::fs::write(dir.join("e.facts"), "1\t2\n3\tfour\n").unwrap();
    let o = calm(&["run", "p.dl"], &dir);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!(stderr(&o).replace(dir.to_str().unwrap(), "DIR"));

    std::fs::write(dir.join("e.facts"), "1\t2\t3\n").unwrap();
    let o = calm(&["run", "p.dl"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("e.facts:1:1: `e` has 2 columns, this line has 3"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_files_are_io_failures_exit_2() {
    let dir = scratch("io");
    let o = calm(&["run", "nope.dl"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read program `nope.dl`"),
        "{}",
        stderr(&o)
    );

    // A fact file that cannot be read is the program's error: E0600 at its `.input`, exit 1.
    std::fs::write(dir.join("p.dl"), ".decl e(a: number)\n.input e\n").unwrap();
    let o = calm(&["run", "p.dl", "-F", "missing"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error[E0600]: `.input e`: cannot read missing/e.facts"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("p.dl:2:1"), "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_2() {
    let dir = scratch("usage");
    let o = calm(&["run", "--no-such-flag"], &dir);
    assert_eq!(o.status.code(), Some(2));
    let o = calm(&["frobnicate"], &dir);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn no_quiescence_is_an_error_after_writing_the_last_tick() {
    let dir = scratch("ticks");
    std::fs::write(
        dir.join("p.dl"),
        ".persist c\nc(0).\nc(x + 1)@next :- c(x), !done(x).\ndone(-1).\n.printsize c\n",
    )
    .unwrap();
    let o = calm(&["run", "p.dl", "--max-ticks", "5"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "c\t5\n");
    assert!(
        stderr(&o).contains("no quiescence after 5 ticks"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn async_to_other_nodes_is_reported_as_undeliverable() {
    let dir = scratch("async");
    std::fs::write(
        dir.join("p.dl"),
        "src(1).\nsrc(2).\nmsg(@n, x)@async :- src(x), $member(n).\n.printsize msg\n",
    )
    .unwrap();
    let o = calm(&["run", "p.dl", "--node-name", "a", "--member", "b"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "msg\t2\n");
    assert!(
        stderr(&o).contains("note: 2 `msg` facts addressed to node `b` not delivered"),
        "{}",
        stderr(&o)
    );
}
