pub mod compare;
pub mod detect;
pub mod doctor;
pub mod embed;
pub mod eval;
pub mod train;
