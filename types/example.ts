// How an app Worker calls the image Worker over a service binding, typed.
// Checked by `tsc` (scripts/check-types); the README shows the same code.
import type { GenerationRequest, GenerationResult, ImageWorkerRpc, RpcResult } from "./index";

interface Env {
  IMAGE: ImageWorkerRpc; // [[services]] binding = "IMAGE", service = "image-worker"
}

export async function portrait(env: Env, characterId: string): Promise<string> {
  const request: GenerationRequest = {
    prompt: "portrait of the ferryman, oil painting",
    size: "1024x1024",
    caller: "story-app",
    links: [{ entity_type: "character", entity_id: characterId }],
  };
  const answer: RpcResult<GenerationResult> = await env.IMAGE.generate(request);
  if (!answer.ok) {
    // The same error shape as HTTP: code, message, retryable, details.
    throw new Error(`${answer.error.code}: ${answer.error.message}`);
  }
  const cost: number | null | undefined = answer.result.actual_cost_micros;
  console.log(`spent ${cost ?? 0} micro-dollars`);
  const [first] = answer.result.images ?? [];
  return first.url;
}

export async function gallery(env: Env, characterId: string) {
  const images = await env.IMAGE.entity_images({ entity_type: "character", entity_id: characterId });
  const one = await env.IMAGE.get_generation("gen_01JD0000000000000000000000");
  const budget = await env.IMAGE.put_budget({ daily_budget_micros: 25_000_000 });
  return [images.ok, one.ok && one.result.status, budget.ok];
}
