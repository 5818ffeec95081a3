//! The wake-up file descriptor an event loop watches: an eventfd on Linux, a non-blocking self-pipe
//! on other Unixes. The worker only ever writes to it; the loop thread reads it to re-arm it.

use std::io;
use std::os::fd::RawFd;

use mistral_tok_core::{Error, Result};

pub(crate) struct WakeFd {
    /// The end an event loop watches (`loop.add_reader`).
    read: RawFd,
    /// The end the worker writes; equal to `read` for an eventfd.
    write: RawFd,
}

fn os_error(what: &str) -> Error {
    Error::Internal(format!("{what}: {}", io::Error::last_os_error()))
}

impl WakeFd {
    #[cfg(target_os = "linux")]
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: plain syscall; the returned fd is owned by this value and closed in Drop.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(os_error("eventfd"));
        }
        Ok(WakeFd {
            read: fd,
            write: fd,
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub(crate) fn new() -> Result<Self> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` has room for the two descriptors pipe() writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(os_error("pipe"));
        }
        let this = WakeFd {
            read: fds[0],
            write: fds[1],
        };
        for fd in fds {
            // SAFETY: fcntl on descriptors we own.
            let ok = unsafe {
                let fl = libc::fcntl(fd, libc::F_GETFL);
                let fd_fl = libc::fcntl(fd, libc::F_GETFD);
                fl >= 0
                    && fd_fl >= 0
                    && libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) == 0
                    && libc::fcntl(fd, libc::F_SETFD, fd_fl | libc::FD_CLOEXEC) == 0
            };
            if !ok {
                return Err(os_error("fcntl on the wake-up pipe"));
            }
        }
        Ok(this)
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.read
    }

    /// Makes the fd readable. Errors are ignored on purpose: a full pipe or a saturated eventfd is
    /// already readable, which is all a wake-up needs.
    pub(crate) fn wake(&self) {
        #[cfg(target_os = "linux")]
        let buf: [u8; 8] = 1u64.to_ne_bytes();
        #[cfg(not(target_os = "linux"))]
        let buf: [u8; 1] = [1];
        // SAFETY: writes from a live local buffer to a descriptor we own.
        let _ = unsafe { libc::write(self.write, buf.as_ptr().cast(), buf.len()) };
    }

    /// Makes the fd non-readable again (until the next `wake`).
    pub(crate) fn reset(&self) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reads into a live local buffer from a descriptor we own (non-blocking).
            let n = unsafe { libc::read(self.read, buf.as_mut_ptr().cast(), buf.len()) };
            // An eventfd is emptied by one read; a pipe may need several.
            if n <= 0 || cfg!(target_os = "linux") {
                break;
            }
        }
    }
}

impl Drop for WakeFd {
    fn drop(&mut self) {
        // SAFETY: both descriptors are owned by this value and nobody else closes them.
        unsafe {
            libc::close(self.read);
            if self.write != self.read {
                libc::close(self.write);
            }
        }
    }
}
