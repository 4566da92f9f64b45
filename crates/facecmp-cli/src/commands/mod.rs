pub mod compare;
pub mod detect;
pub mod doctor;
pub mod embed;
