//! The local tool behind `inlet`: signed samples, the local stack (moto +
//! `cargo lambda watch` + a queue pump), and the inbox listing. The
//! integration tests reuse the resource set-up and the pump from here.

pub mod dev;
pub mod local;
pub mod pump;
pub mod samples;
