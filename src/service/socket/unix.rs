//! Socket-level checks: the peer's uid, a private listening socket, and what may stand at the
//! socket's path.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use crate::store::{Result, StoreError};

/// This process's effective uid: the only one the socket serves and trusts.
pub fn own_uid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// The uid of the process at the other end of a Unix socket.
pub fn peer_uid(conn: &UnixStream) -> std::io::Result<u32> {
    use std::os::fd::AsRawFd;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, a plain C struct.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: as above; `len` is the size of `cred`.
    let r = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// Removes the socket a dead holder left (this process holds the lock now); anything else
/// at that path (a symbolic link, a file) is refused rather than deleted or followed.
pub fn clear_stale_socket(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        }),
        Ok(m) if m.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(|source| StoreError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
        Ok(_) => Err(StoreError::Unsafe {
            path: path.to_path_buf(),
            message: "exists and is not a socket (a symbolic link or a file?); ie-bench will not \
                      replace or follow it (remove it)"
                .to_string(),
        }),
    }
}

/// A listening socket at `path` with mode 0600, set before `listen`: a client cannot connect
/// in between, as it could to a socket bound with the umask's mode and changed after.
pub fn listen_private(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: sockaddr_un is a plain C struct; all zeroes is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "the socket path is {} bytes long; Unix sockets allow {} (use a shorter --db)",
                bytes.len(),
                addr.sun_path.len() - 1
            ),
        ));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: socket/bind/listen on a descriptor we own; `addr` outlives the calls and `len`
    // covers the family and the path with its terminating zero.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
    // SAFETY: see above: `addr` is live and `len` within it.
    if unsafe { libc::bind(fd, (&addr as *const libc::sockaddr_un).cast(), len) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    // SAFETY: listen(2) on the descriptor `owned` keeps open.
    if unsafe { libc::listen(fd, 128) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(UnixListener::from(owned))
}
