//! A real SMTP server for tests: aiosmtpd (from PyPI) on a loopback port, storing what it
//! receives in a Maildir that the tests read back through Python's `email` parser.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
    _dir: tempfile::TempDir,
}

/// One received message, as Python's `email` package reads it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ReceivedMail {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl SmtpSink {
    /// Starts aiosmtpd on `port` (0: a free one) and waits until it accepts connections.
    pub fn start(port: u16) -> SmtpSink {
        let port = if port == 0 { super::free_port() } else { port };
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd is needed (CI installs it)");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpSink {
            child,
            port,
            maildir,
            _dir: dir,
        }
    }

    /// Everything received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let script = r#"
import email, email.policy, json, os, sys
root = os.path.join(sys.argv[1], "new")
out = []
names = os.listdir(root) if os.path.isdir(root) else []
for name in sorted(names, key=lambda n: os.stat(os.path.join(root, n)).st_mtime_ns):
    with open(os.path.join(root, name), "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    out.append({"to": str(msg["To"]), "from": str(msg["From"]), "subject": str(msg["Subject"]),
                "text": text.get_content() if text else "", "html": html.get_content() if html else ""})
print(json.dumps(out))
"#;
        let output = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&self.maildir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Waits until `count` messages have arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<ReceivedMail> {
        super::eventually(30, || async {
            let messages = self.messages();
            (messages.len() >= count).then_some(messages)
        })
        .await
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
