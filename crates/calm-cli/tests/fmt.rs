//! `calm fmt` through the binary: in-place rewriting, `--check`, `--diff`, standard input,
//! programs with errors, comments.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

const UGLY: &str = "// the paths\npath(x,y):-edge(x,y). // base\npath(x,z):-path(x,y),edge(y,z).\n";
const PRETTY: &str =
    "// the paths\npath(x, y) :- edge(x, y). // base\npath(x, z) :- path(x, y), edge(y, z).\n";

/// A fresh directory under the target's temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fmt-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn calm(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_calm"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run calm");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Sets a file's modification time to an hour ago (to see whether calm writes it).
fn age(p: &Path) -> SystemTime {
    let t = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(t)
        .unwrap();
    std::fs::metadata(p).unwrap().modified().unwrap()
}

#[test]
fn rewrites_files_in_place_only_when_they_change() {
    let dir = temp_dir("in-place");
    let ugly = write(&dir, "ugly.dl", UGLY);
    let pretty = write(&dir, "pretty.dl", PRETTY);
    let (ugly_t, pretty_t) = (age(&ugly), age(&pretty));
    let o = calm(&["fmt", s(&ugly), s(&pretty)], None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(read(&ugly), PRETTY);
    assert_eq!(read(&pretty), PRETTY);
    assert_ne!(
        std::fs::metadata(&ugly).unwrap().modified().unwrap(),
        ugly_t
    );
    assert_eq!(
        std::fs::metadata(&pretty).unwrap().modified().unwrap(),
        pretty_t
    );
    assert_eq!(out(&o), "");
}

#[test]
fn check_lists_the_files_that_would_change() {
    let dir = temp_dir("check");
    let ugly = write(&dir, "ugly.dl", UGLY);
    let pretty = write(&dir, "pretty.dl", PRETTY);
    let o = calm(&["fmt", "--check", s(&ugly), s(&pretty)], None);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert_eq!(out(&o), format!("would reformat: {}\n", ugly.display()));
    assert_eq!(read(&ugly), UGLY, "--check wrote the file");
    let o = calm(&["fmt", "--check", s(&pretty)], None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(out(&o), "");
    // A directory stands for the programs under it.
    let o = calm(&["fmt", "--check", s(&dir)], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(out(&o), format!("would reformat: {}\n", ugly.display()));
}

#[test]
fn diff_prints_a_unified_diff() {
    let dir = temp_dir("diff");
    let ugly = write(&dir, "ugly.dl", UGLY);
    let o = calm(&["fmt", "--diff", s(&ugly)], None);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let name = ugly.display().to_string();
    assert_eq!(
        out(&o),
        format!(
            "--- {name}\n+++ {name}\n@@ -1,3 +1,3 @@\n // the paths\n-path(x,y):-edge(x,y). // base\n\
             -path(x,z):-path(x,y),edge(y,z).\n+path(x, y) :- edge(x, y). // base\n\
             +path(x, z) :- path(x, y), edge(y, z).\n"
        )
    );
    assert_eq!(read(&ugly), UGLY, "--diff wrote the file");
    let pretty = write(&dir, "pretty.dl", PRETTY);
    let o = calm(&["fmt", "--diff", s(&pretty)], None);
    assert_eq!((o.status.code(), out(&o)), (Some(0), String::new()));
}

#[test]
fn standard_input_to_standard_output() {
    for args in [&["fmt"][..], &["fmt", "-"][..]] {
        let o = calm(args, Some(UGLY));
        assert_eq!(o.status.code(), Some(0), "{}", err(&o));
        assert_eq!(out(&o), PRETTY);
    }
    let o = calm(&["fmt", "--check"], Some(UGLY));
    assert_eq!(
        (o.status.code(), out(&o)),
        (Some(1), "would reformat: <stdin>\n".into())
    );
    let o = calm(&["fmt", "--check", "-"], Some(PRETTY));
    assert_eq!((o.status.code(), out(&o)), (Some(0), String::new()));
}

#[test]
fn programs_with_errors_are_reported_and_left_alone() {
    let dir = temp_dir("errors");
    let bad_text = "p(x) :- q(x)\nr(1).\n";
    let bad = write(&dir, "bad.dl", bad_text);
    let ugly = write(&dir, "ugly.dl", UGLY);
    let o = calm(&["fmt", s(&bad), s(&ugly)], None);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    let e = err(&o);
    assert!(e.contains("error[E0001]"), "{e}");
    assert!(e.contains("bad.dl:2:1"), "{e}");
    assert!(e.contains("is not formatted"), "{e}");
    assert_eq!(read(&bad), bad_text);
    // The other file is still formatted.
    assert_eq!(read(&ugly), PRETTY);
    let o = calm(&["fmt"], Some(bad_text));
    assert_eq!((o.status.code(), out(&o)), (Some(2), String::new()));
    let o = calm(&["fmt", s(&dir.join("missing.dl"))], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("cannot read"), "{}", err(&o));
    let binary = dir.join("binary.dl");
    std::fs::write(&binary, [0xff, 0xfe, b'p']).unwrap();
    let o = calm(&["fmt", s(&binary)], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("not UTF-8"), "{}", err(&o));
}

#[test]
fn comments_are_kept() {
    let text = "/* header */\n.decl r(x: number) // the rows\n\n\n// facts\nr(1).r(2). /* two */\n\
                p(x):-r(x), // why\n  // because\n  x>1.\n// end\n";
    let o = calm(&["fmt"], Some(text));
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(
        out(&o),
        "/* header */\n.decl r(x: number) // the rows\n\n// facts\nr(1).\nr(2). /* two */\n\
         p(x) :-\n    r(x), // why\n    // because\n    x > 1.\n// end\n"
    );
}
