//! The `etcd-rs` command.

fn main() {
    eprintln!("etcd-rs: the server is not built yet; see README.md for what runs today");
    std::process::exit(2);
}
