pub mod access;
pub mod compare;
pub mod detect;
pub mod doctor;
pub mod embed;
pub mod gallery;
pub mod keys;
pub mod serve;
