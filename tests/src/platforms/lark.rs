//! The lark reply API, as a local server: to be written.
