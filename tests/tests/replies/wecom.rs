//! wecom replies against its local server: to be written.
