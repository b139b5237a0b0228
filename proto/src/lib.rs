//! zhengqi's protobuf contracts: one package per service (`zhengqi.<service>.v1`)
//! and the shared types (`zhengqi.common.v1`), with tonic clients and servers.
#![forbid(unsafe_code)]
#![allow(clippy::large_enum_variant, clippy::doc_lazy_continuation)]

include!(concat!(env!("OUT_DIR"), "/_includes.rs"));

/// The encoded `FileDescriptorSet` of every contract and its imports, with
/// source info and the `google.api.http` annotations intact: for server
/// reflection and the gateway's JSON transcoding.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/zhengqi_descriptor.bin"));

/// What each service's log carries, typed: the contracts' `<Service>Event`
/// envelopes (a oneof of every event the log may hold) as Rust enums that
/// producers encode from and followers match on.
///
/// The log itself keeps each event as its own message under its full name
/// (`Event.type`, `Event.payload`), which is what `WatchEvents` serves; the
/// envelope is how code on either side names them. Only a message of an
/// envelope may be logged ([`events::Logged`]), and a follower that decodes
/// into the envelope and matches without a catch-all stops compiling when an
/// event is added to the contract and not handled:
///
/// ```
/// use zhengqi_proto::zhengqi::intake::v1::intake_event::Event;
///
/// fn counted(event: &Event) -> bool {
///     match event {
///         Event::AppealRegistered(_) => true,
///         Event::AppealWithdrawn(_) => true,
///         Event::EnterpriseRegistered(_) => false,
///     }
/// }
/// # let _ = counted;
/// ```
///
/// The same follower without one of intake's events does not compile (as a
/// follower written before that event was added to the envelope would not):
///
/// ```compile_fail,E0004
/// use zhengqi_proto::zhengqi::intake::v1::intake_event::Event;
///
/// fn counted(event: &Event) -> bool {
///     match event {
///         Event::AppealRegistered(_) => true,
///         Event::AppealWithdrawn(_) => true,
///     }
/// }
/// # let _ = counted;
/// ```
pub mod events {
    /// A log's envelope: one variant per event message the log may hold.
    pub trait Envelope: Sized {
        /// The full name of the variant's message, as `Event.type` carries it.
        fn type_name(&self) -> String;
        /// The variant's message, encoded, as `Event.payload` carries it.
        fn encode_payload(&self) -> Vec<u8>;
        /// The event named `type_name`; `None` when the envelope has no such
        /// message (another log's, or one added by a newer producer).
        fn decode(type_name: &str, payload: &[u8]) -> Result<Option<Self>, prost::DecodeError>;
    }

    /// A message that is one of a log's events.
    pub trait Logged: prost::Name {
        type Envelope: Envelope;
        fn into_envelope(self) -> Self::Envelope;
    }

    include!(concat!(env!("OUT_DIR"), "/_events.rs"));
}

/// Full names of the five services, as gRPC paths and health checks name them.
pub const SERVICE_NAMES: [&str; 5] = [
    "zhengqi.intake.v1.IntakeService",
    "zhengqi.routing.v1.CaseService",
    "zhengqi.policy.v1.PolicyService",
    "zhengqi.evaluation.v1.EvaluationService",
    "zhengqi.scoring.v1.ScoringService",
];

/// The codec of every generated server and client: prost's, except that a
/// message that does not decode is INVALID_ARGUMENT, the caller's fault, where
/// prost's answers INTERNAL. (A client decoding a service's answer sees the
/// same code; zhengqi's services only send what they encoded.)
pub mod codec {

    use prost::bytes::Buf;
    use tonic::Status;
    use tonic::codec::{BufferSettings, DecodeBuf, Decoder};
    use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

    /// [`ProstCodec`] with decoding failures as INVALID_ARGUMENT.
    #[derive(Debug, Clone)]
    pub struct Codec<T, U>(ProstCodec<T, U>);

    impl<T, U> Default for Codec<T, U> {
        fn default() -> Self {
            Codec(ProstCodec::default())
        }
    }

    impl<T, U> tonic::codec::Codec for Codec<T, U>
    where
        T: prost::Message + Send + 'static,
        U: prost::Message + prost::Name + Default + Send + 'static,
    {
        type Encode = T;
        type Decode = U;
        type Encoder = ProstEncoder<T>;
        type Decoder = MessageDecoder<U>;

        fn encoder(&mut self) -> Self::Encoder {
            self.0.encoder()
        }

        fn decoder(&mut self) -> Self::Decoder {
            MessageDecoder(self.0.decoder())
        }
    }

    /// Decodes with prost; a message that does not decode is INVALID_ARGUMENT,
    /// and so is a request whose text holds a control character (see [`crate::text`]).
    #[derive(Debug, Clone)]
    pub struct MessageDecoder<U>(ProstDecoder<U>);

    impl<U: prost::Message + prost::Name + Default> Decoder for MessageDecoder<U> {
        type Item = U;
        type Error = Status;

        fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
            let bytes = buf.copy_to_bytes(buf.remaining());
            crate::text::check_request(&U::full_name(), &bytes)?;
            U::decode(bytes).map(Some).map_err(|error| {
                Status::invalid_argument(format!("消息不是有效的protobuf，无法解码：{error}"))
            })
        }

        fn buffer_settings(&self) -> BufferSettings {
            self.0.buffer_settings()
        }
    }
}

pub mod personal;
pub mod text;

/// The full names of the fields whose option `extension` (a boolean field
/// option of the contracts, `zhengqi.common.v1.multiline`) is set.
fn fields_marked(extension: &str) -> std::collections::HashSet<String> {
    let pool = descriptor_pool();
    let Some(extension) = pool.get_extension_by_name(extension) else {
        return std::collections::HashSet::new();
    };
    pool.all_messages()
        .flat_map(|m| m.fields().collect::<Vec<_>>())
        .filter(|f| {
            let options = f.options();
            options.has_extension(&extension)
                && options.get_extension(&extension).as_bool() == Some(true)
        })
        .map(|f| f.full_name().to_owned())
        .collect()
}

/// The contracts as a descriptor pool, decoded once.
pub fn descriptor_pool() -> &'static prost_reflect::DescriptorPool {
    static POOL: std::sync::OnceLock<prost_reflect::DescriptorPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        prost_reflect::DescriptorPool::decode(FILE_DESCRIPTOR_SET)
            .expect("the compiled contracts decode")
    })
}
