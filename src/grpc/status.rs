//! The one mapping between our error codes and gRPC codes (REST reuses it
//! for the `code` field of its error body; clients use the inverse).

use tonic::Status;

use crate::{Code, Error};

pub fn grpc_code(code: Code) -> tonic::Code {
    match code {
        Code::NotFound => tonic::Code::NotFound,
        Code::InvalidArgument => tonic::Code::InvalidArgument,
        Code::PermissionDenied => tonic::Code::PermissionDenied,
        Code::Unauthenticated => tonic::Code::Unauthenticated,
        Code::FailedPrecondition => tonic::Code::FailedPrecondition,
        Code::Unavailable => tonic::Code::Unavailable,
        Code::Unimplemented => tonic::Code::Unimplemented,
        Code::Internal => tonic::Code::Internal,
    }
}

/// The inverse, for clients; codes we never send become Internal.
pub fn code_from_grpc(code: tonic::Code) -> Code {
    match code {
        tonic::Code::NotFound => Code::NotFound,
        tonic::Code::InvalidArgument | tonic::Code::OutOfRange => Code::InvalidArgument,
        tonic::Code::PermissionDenied => Code::PermissionDenied,
        tonic::Code::Unauthenticated => Code::Unauthenticated,
        tonic::Code::FailedPrecondition => Code::FailedPrecondition,
        tonic::Code::Unavailable | tonic::Code::ResourceExhausted => Code::Unavailable,
        tonic::Code::Unimplemented => Code::Unimplemented,
        _ => Code::Internal,
    }
}

pub fn to_status(e: Error) -> Status {
    Status::new(grpc_code(e.code), e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_survives_the_round_trip() {
        for c in [
            Code::NotFound,
            Code::InvalidArgument,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::FailedPrecondition,
            Code::Unavailable,
            Code::Unimplemented,
            Code::Internal,
        ] {
            assert_eq!(code_from_grpc(grpc_code(c)), c);
        }
    }
}
