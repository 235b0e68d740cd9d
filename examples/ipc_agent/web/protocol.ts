// The page's side of demo.fbs: the generated classes and the FlatBuffers
// runtime, bundled by esbuild into web_root/demo_protocol.js.
export { Action, BoxState, ChannelInfo, CommandAck, CommandMessage, GameMessage } from './generated/demo.js';
export { Builder, ByteBuffer } from 'flatbuffers';
