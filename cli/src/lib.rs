//! The local tool behind `inlet`: signed samples, the local stack (moto, a
//! local Lambda emulator behind an API Gateway, and a queue pump), the soak
//! run, the inbox listing, the operator commands (dead letters, redrive,
//! replay, refusals) and `inlet reply`. The integration tests reuse the resource
//! set-up, the pump, the emulator and the stack launcher from here; the binary
//! is [`cli`]: its commands, their arguments and their exit codes ([`error`]).

pub mod api;
pub mod cli;
pub mod coldstart;
pub mod dev;
pub mod error;
pub mod r#gen;
pub mod generate;
pub mod httpd;
pub mod inbox;
pub mod listen;
pub mod local;
pub mod ops;
pub mod process;
pub mod progress;
pub mod providers;
pub mod pump;
pub mod random;
pub mod reply;
pub mod runtime_api;
pub mod samples;
pub mod send;
pub mod settings;
pub mod soak;
pub mod soak_delivery;
pub mod stack;
