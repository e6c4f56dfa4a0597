// Tinypool task file: the task returns its payload, as the troupe echo app does.
export default function echo(payload) {
  return payload;
}
