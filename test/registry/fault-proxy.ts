/**
 * A TCP proxy in front of the real registry that breaks connections on a schedule:
 * resets part-way through a response, answers 500 or 429 itself, stalls, or flips a
 * byte of the response (or many). Each new connection takes the next fault from the plan; once
 * the plan is used up connections pass through untouched.
 */
import { connect, createServer, type AddressInfo, type Socket } from "node:net";

/** `corrupt` flips one byte of the responses; `garble` one in every 32 KiB, for as long as the connection lives. */
export type Fault = "pass" | "reset" | "error500" | "error429" | "stall" | "corrupt" | "garble";

export interface FaultProxy {
  host: string;
  /** How many connections met each fault. */
  stats: Record<Fault, number>;
  stop(): Promise<void>;
}

export async function startFaultProxy(targetPort: number, plan: Fault[]): Promise<FaultProxy> {
  const stats: Record<Fault, number> = { pass: 0, reset: 0, error500: 0, error429: 0, stall: 0, corrupt: 0, garble: 0 };
  const sockets = new Set<Socket>();
  let n = 0;
  const server = createServer((client) => {
    const fault = plan[n] ?? "pass";
    const seq = n++;
    stats[fault]++;
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => undefined);
    if (fault === "stall") {
      client.resume();
      return;
    }
    if (fault === "error500" || fault === "error429") {
      client.once("data", () => {
        const status = fault === "error500" ? "500 Internal Server Error" : "429 Too Many Requests\r\nRetry-After: 0";
        client.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      });
      return;
    }
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    client.pipe(upstream);
    // Somewhere inside the first responses: past the status line, often inside a body.
    const at = 200 + ((seq * 7919) % 40_000);
    let sent = 0;
    upstream.on("data", (chunk: Buffer) => {
      const start = sent;
      sent += chunk.length;
      if (fault === "reset" && sent >= at) {
        client.write(chunk.subarray(0, at - start));
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      if (fault === "corrupt" && start <= at && at < sent) {
        const copy = Buffer.from(chunk);
        copy[at - start] = (copy[at - start] ?? 0) ^ 0xff;
        chunk = copy;
      }
      if (fault === "garble") {
        const copy = Buffer.from(chunk);
        // Bytes 16 KiB, 48 KiB, 80 KiB, ... of the connection: small replies pass, large bodies never do.
        const period = 32 * 1024;
        for (let i = (period + period / 2 - (start % period)) % period; i < copy.length; i += period) copy[i] = (copy[i] ?? 0) ^ 0xff;
        chunk = copy;
      }
      if (!client.write(chunk)) upstream.pause();
    });
    client.on("drain", () => upstream.resume());
    upstream.on("end", () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    stats,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
