//! A CA, a server certificate for 127.0.0.1 and a client certificate, made with the `openssl`
//! CLI at test time, and TLS-only servers that use them.

use std::process::{Command, Stdio};

use crate::{free_port, Redis, Scratch};

pub struct Certificates {
    dir: Scratch,
}

impl Certificates {
    pub fn generate() -> Certificates {
        let certs = Certificates {
            dir: Scratch::new(),
        };
        certs.key("ca.key");
        certs.openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-days",
            "2",
            "-subj",
            "/CN=test-redis CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "ca.crt",
        ]);
        certs.signed("server", "serverAuth");
        certs.signed("client", "clientAuth");
        certs
    }

    /// The path of one of the files: `ca.crt`, `server.crt`/`.key`, `client.crt`/`.key`.
    pub fn file(&self, name: &str) -> String {
        self.dir.file(name)
    }

    fn openssl(&self, args: &[&str]) {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl must be installed");
        assert!(status.success(), "openssl {args:?}");
    }

    fn key(&self, name: &str) {
        let curve = "ec_paramgen_curve:P-256";
        self.openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            curve,
            "-out",
            name,
        ]);
    }

    /// `<name>.key` and `<name>.crt`, signed by the CA for 127.0.0.1 and localhost.
    fn signed(&self, name: &str, usage: &str) {
        let (key, csr, ext, crt) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.ext"),
            format!("{name}.crt"),
        );
        self.key(&key);
        let subject = format!("/CN={name}");
        self.openssl(&["req", "-new", "-key", &key, "-subj", &subject, "-out", &csr]);
        let text = format!(
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n\
             extendedKeyUsage={usage}\n"
        );
        std::fs::write(self.file(&ext), text).expect("an extensions file");
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ]);
    }

    /// A TLS-only `redis-server`; with `client_certs` it refuses clients without a certificate
    /// signed by the CA. Its `cli` presents the client certificate.
    pub fn server(&self, client_certs: bool) -> Redis {
        let mut cli = vec!["--tls".to_string()];
        for (flag, file) in [
            ("--cacert", "ca.crt"),
            ("--cert", "client.crt"),
            ("--key", "client.key"),
        ] {
            cli.extend([flag.to_string(), self.file(file)]);
        }
        let auth = if client_certs { "yes" } else { "no" };
        Redis::launch(free_port, cli, |port, dir| {
            let port = port.to_string();
            let dir = dir.0.display().to_string();
            let mut args: Vec<String> = ["--port", "0", "--tls-port", &port, "--bind", "127.0.0.1"]
                .map(String::from)
                .to_vec();
            args.extend(["--save", "", "--appendonly", "no", "--dir", &dir].map(String::from));
            args.extend(["--tls-auth-clients", auth].map(String::from));
            for (flag, file) in [
                ("--tls-cert-file", "server.crt"),
                ("--tls-key-file", "server.key"),
                ("--tls-ca-cert-file", "ca.crt"),
            ] {
                args.extend([flag.to_string(), self.file(file)]);
            }
            args
        })
    }
}
