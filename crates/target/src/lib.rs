//! cl-target library
