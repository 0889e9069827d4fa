import type { StepContext } from "./context.js";
import { planMkdir } from "../copy.js";
import { resolveIds } from "../users.js";
import { layerFromChanges, withView, type StepInputs, type StepState } from "./common.js";

/** WORKDIR: creates the directory (owned by the USER) when the image lacks it, as BuildKit does. */
export async function workdirStep(state: StepState, ctx: StepContext): Promise<StepInputs> {
  const dir = state.container.WorkingDir ?? "/";
  const user = state.container.User;
  return {
    key: { workdir: dir, user: user ?? "" },
    execute: async (scratch: string) =>
      withView(state.layers, ctx.snapshots, async (view) => {
        if (await view.isDirectory(dir)) return null;
        const ids = user === undefined || user === "" ? { uid: 0, gid: 0 } : await resolveIds(user, view, `WORKDIR ${dir}`);
        const nowNs = BigInt(ctx.output.sourceDateEpoch ?? Math.floor(Date.now() / 1000)) * 1_000_000_000n;
        return layerFromChanges(await planMkdir(dir, ids, view, scratch, nowNs), ctx.output);
      }),
  };
}

