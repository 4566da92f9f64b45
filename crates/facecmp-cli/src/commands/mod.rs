pub mod compare;
pub mod detect;
pub mod embed;
