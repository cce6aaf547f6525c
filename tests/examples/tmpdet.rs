fn main() {
    let dir = std::path::PathBuf::from("/tmp/det");
    std::fs::create_dir_all(&dir).unwrap();
    let (v, t) = vantage_e2e::tools::slowed_clip_of(&dir, 6, "testsrc2=size=160x120:rate=24");
    println!("{} {}", v.display(), t.display());
}
