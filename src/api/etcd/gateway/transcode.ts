// JSON <-> protobuf for the gateway, with the mapping etcd's gateway uses (Go's jsonpb with the
// proto field names): 64-bit integers as strings, bytes as base64, enums by name, fields at their
// default value left out; unknown request fields are ignored, as etcd does.
import { createFileRegistry, fromBinary, fromJson, toBinary, toJson, type DescMessage, type JsonValue, type Registry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { ETCD_DESCRIPTOR_SET_BASE64 } from '../../../../proto/gen/etcd/descriptors.js';

let registry: Registry | null = null;

function messageType(name: string): DescMessage {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(ETCD_DESCRIPTOR_SET_BASE64, 'base64')));
  const desc = registry.getMessage(name);
  if (!desc) throw new Error(`no message ${name} in the etcd descriptors`);
  return desc;
}

/**
 * The request message `name` from its JSON form, in protobuf's binary encoding. Throws, naming the
 * field, when the JSON does not fit the message (the gateway answers INVALID_ARGUMENT).
 */
export function requestFromJson(name: string, json: JsonValue): Buffer {
  const desc = messageType(name);
  return Buffer.from(toBinary(desc, fromJson(desc, json, { ignoreUnknownFields: true })));
}

/** The response message `name`, binary-encoded, in etcd's JSON form. */
export function responseToJson(name: string, bytes: Uint8Array): JsonValue {
  const desc = messageType(name);
  return toJson(desc, fromBinary(desc, bytes), { useProtoFieldName: true });
}
