//! `riskmesh console`: where this node's web console is, and where the
//! token to log in with lives. The token never goes into the URL: the
//! analyst pastes it into the login form, which exchanges it for a
//! session cookie.

use crate::client::{config_base, read_config};
use anyhow::Context;
use riskmesh_node::config::TOKEN_FILE;
use std::path::PathBuf;

/// Print (or open) the URL of the node's web console and the path of the token to log in with.
#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    /// The node's config file; the API port and the data directory are read from it.
    #[arg(
        long,
        env = "RISKMESH_CONFIG",
        default_value = "config.toml",
        value_name = "PATH"
    )]
    config: PathBuf,
    /// Also open the URL in the desktop's browser (`xdg-open`, or `open` on macOS).
    #[arg(long)]
    open: bool,
    /// Print JSON (`url`, `token_file`) instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `riskmesh console`.
pub fn run(args: &ConsoleArgs) -> anyhow::Result<()> {
    let file = read_config(&args.config)?;
    let url = format!("http://127.0.0.1:{}/console/", file.api_port);
    let token_file = config_base(&args.config).join(&file.data_dir).join(TOKEN_FILE);
    if args.json {
        let answer = serde_json::json!({ "url": url, "token_file": token_file });
        println!("{answer}");
    } else {
        println!("console: {url}");
        println!(
            "log in with the API token in {} (paste its content into the login form; it never goes in a URL)",
            token_file.display()
        );
    }
    if args.open {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        let status = std::process::Command::new(opener)
            .arg(&url)
            .status()
            .with_context(|| format!("could not run `{opener}`; open {url} in a browser yourself"))?;
        anyhow::ensure!(
            status.success(),
            "`{opener} {url}` failed ({status}); open the URL in a browser yourself"
        );
    }
    Ok(())
}
