//! The preprocessor's command-line options (`-I`, `-M`) and the IO parameters (`compress`,
//! `rfc4180`, `headers`) through the binary, with hostile inputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("calm-ppio-{}-{name}", std::process::id()));
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
fn include_directories_and_macros_from_the_command_line() {
    let dir = scratch("flags");
    std::fs::create_dir_all(dir.join("inc")).unwrap();
    std::fs::write(
        dir.join("p.dl"),
        "#include \"lib.dl\"\n.decl p(x: number)\n.output p\n#ifdef EXTRA\np(N).\n#endif\np(BASE).\n",
    )
    .unwrap();
    std::fs::write(dir.join("inc/lib.dl"), "#define BASE 7\n").unwrap();
    // Without -I the included file is not found.
    let o = calm(&["run", "p.dl", "-D", "-"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error[E0040]: cannot find included file `lib.dl`"),
        "{}",
        stderr(&o)
    );
    let o = calm(&["run", "p.dl", "-D", "-", "-I", "inc"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).ends_with("===============\n7\n===============\n"),
        "{}",
        stdout(&o)
    );
    let o = calm(
        &["run", "p.dl", "-D", "-", "-I", "inc", "-M", "EXTRA N=3"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("\n3\n7\n"), "{}", stdout(&o));
    // A bad macro name is a usage error.
    let o = calm(&["run", "p.dl", "-M", "9X=1"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn check_and_node_preprocess_too() {
    let dir = scratch("check");
    std::fs::write(
        dir.join("p.dl"),
        "#include \"rules.dl\"\n.decl a(x: number)\na(1).\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("rules.dl"),
        "// rules\nb(x) :- a(x), !c(x).\nc(x) :- b(x).\n",
    )
    .unwrap();
    let o = calm(&["check", "p.dl"], &dir);
    assert_eq!(o.status.code(), Some(1));
    // The error is shown in the included file.
    assert!(
        stderr(&o).contains("rules.dl:2") || stdout(&o).contains("rules.dl:2"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    std::fs::write(dir.join("q.dl"), "#include \"missing.dl\"\n").unwrap();
    let o = calm(&["check", "q.dl"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("E0040"), "{}", stderr(&o));
    // `calm node` refuses the program for its include before it binds anything.
    let o = calm(
        &[
            "node",
            "q.dl",
            "--name",
            "n1",
            "--listen",
            "127.0.0.1:1",
            "--http",
            "127.0.0.1:1",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("E0040"), "{}", stderr(&o));
}

#[test]
fn compressed_output_reads_back_as_input() {
    let dir = scratch("gzip");
    let big = "x".repeat(100_000);
    std::fs::write(
        dir.join("w.dl"),
        format!(
            ".decl e(a: number, s: symbol)\ne(1, \"one\").\ne(2, \"{big}\").\n\
             .output e(IO=file, filename=\"e.gz\", compress=true)\n"
        ),
    )
    .unwrap();
    let o = calm(&["run", "w.dl", "-D", "out"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let packed = std::fs::read(dir.join("out/e.gz")).unwrap();
    assert!(
        packed.starts_with(&[0x1f, 0x8b]) && packed.len() < 10_000,
        "{} bytes",
        packed.len()
    );
    std::fs::write(
        dir.join("r.dl"),
        ".decl e(a: number, s: symbol)\n.input e(filename=\"e.gz\", compress=true)\n\
         .decl n(a: number, len: number)\n.output n\nn(a, strlen(s)) :- e(a, s).\n",
    )
    .unwrap();
    let o = calm(&["run", "r.dl", "-F", "out", "-D", "-"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("1\t3\n2\t100000\n"), "{}", stdout(&o));
    // Damaged gzip data is an error naming the file.
    std::fs::write(dir.join("out/e.gz"), &packed[..packed.len() / 2]).unwrap();
    let o = calm(&["run", "r.dl", "-F", "out", "-D", "-"], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("not valid gzip data"), "{}", stderr(&o));
}

#[test]
fn hostile_rfc4180_inputs_are_errors_with_locations() {
    let dir = scratch("rfc");
    std::fs::write(
        dir.join("p.dl"),
        ".decl e(a: number, s: symbol)\n.input e(rfc4180=true)\n.output e\n",
    )
    .unwrap();
    std::fs::write(dir.join("e.facts"), "1,ok\n2,\"never closed\n3,x\n").unwrap();
    let o = calm(&["run", "p.dl", "-D", "-"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("e.facts:2:3: a quoted field is never closed"),
        "{}",
        stderr(&o)
    );
    std::fs::write(dir.join("e.facts"), "1,\"a\"b\n").unwrap();
    let o = calm(&["run", "p.dl", "-D", "-"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unexpected text after a quoted field"),
        "{}",
        stderr(&o)
    );
    // A huge quoted field spanning many lines is read whole.
    let huge = "line\n".repeat(200_000);
    std::fs::write(dir.join("e.facts"), format!("1,\"{huge}\"\n2,b\n")).unwrap();
    let o = calm(&["run", "p.dl", "-D", "out"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = std::fs::read_to_string(dir.join("out/e.csv")).unwrap();
    assert_eq!(out.len(), "1\t".len() + huge.len() + "\n2\tb\n".len());
    // Booleans other than true/false are refused when the program is compiled.
    std::fs::write(
        dir.join("b.dl"),
        ".decl e(a: number)\n.input e(headers=yes)\n",
    )
    .unwrap();
    let o = calm(&["run", "b.dl"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("must be `true` or `false`"),
        "{}",
        stderr(&o)
    );
}
