//! The development secret: a file in the data folder, kept across restarts so that development
//! sessions survive them. Anyone who reads it can forge session cookies, so it is a private
//! file of its own: opened without following links (a link would make the app read, and change
//! the mode of, whatever it points to) and never readable by others.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Write},
    path::Path,
};

use secrecy::SecretString;

use super::{ConfigError, MIN_SECRET_LEN};

pub(super) const DEV_SECRET_FILE: &str = "session_secret";

/// Reads the development secret from the data folder, creating it on first use. A secret too
/// short to trust (an edited or truncated file) is replaced; a link or anything but a plain file
/// is refused.
pub fn load_or_create_dev_secret(data_dir: &Path) -> Result<SecretString, ConfigError> {
    let path = data_dir.join(DEV_SECRET_FILE);
    let fail = |reason: String| ConfigError::DevSecret {
        path: path.display().to_string(),
        reason,
    };
    match open(&path, OpenOptions::new().read(true)) {
        Ok(mut file) => {
            let mut text = String::new();
            file.read_to_string(&mut text)
                .map_err(|err| fail(err.to_string()))?;
            if text.trim().len() >= MIN_SECRET_LEN {
                keep_private(&file, &path).map_err(fail)?;
                return Ok(SecretString::from(text.trim().to_string()));
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(fail(explain(err))),
    }
    let mut bytes = [0u8; 48];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let secret = hex::encode(bytes);
    std::fs::create_dir_all(data_dir).map_err(|err| fail(err.to_string()))?;
    write_private(&path, &secret).map_err(|err| fail(explain(err)))?;
    Ok(SecretString::from(secret))
}

/// Opens `path` itself, never what a link there points to, and only if it is a plain file (a
/// FIFO would block the start, a device would be read forever).
fn open(path: &Path, options: &mut OpenOptions) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other(
            "it is not a plain file; remove it and a new secret is made",
        ));
    }
    Ok(file)
}

fn explain(err: std::io::Error) -> String {
    #[cfg(unix)]
    if err.raw_os_error() == Some(libc::ELOOP) {
        return "it is a symbolic link, which is not followed: the secret must be a file of \
                its own in the data folder (remove the link, and a new secret is made)"
            .to_string();
    }
    err.to_string()
}

/// Makes an existing secret file private again when its mode lets others read it (an unpacked
/// archive, a copy, an editor that rewrote it), through the open file, not its path. Says so, as
/// the owner should know others may have read it meanwhile.
#[cfg(unix)]
fn keep_private(file: &File, path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = file.metadata().map_err(|err| err.to_string())?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|err| {
            format!("others may read it (mode {mode:o}) and it could not be made private: {err}")
        })?;
    let message = format!(
        "{} could be read by others (mode {mode:o}): it is now private (0600); replace the secret \
         if others may have read it",
        path.display(),
    );
    // Settings are read before the log is set up: then stderr is the only place to say so.
    match tracing::dispatcher::has_been_set() {
        true => tracing::warn!("{message}"),
        false => eprintln!("sessionboard: warning: {message}"),
    }
    Ok(())
}

#[cfg(not(unix))]
fn keep_private(_file: &File, _path: &Path) -> Result<(), String> {
    Ok(())
}

/// Writes a file only its owner can read. The mode is also set on a file that already existed
/// (a short secret being replaced), and before the secret is written, so it is never readable by
/// others, not even for a moment.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = open(path, &mut options)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())
}
