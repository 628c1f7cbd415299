// POST /rpc/<method> with a JSON array of arguments calls env.IMAGE.<method>(...args)
// over the service binding and answers with what it returned (or what it threw).
export default {
  async fetch(request, env) {
    const match = new URL(request.url).pathname.match(/^\/rpc\/(\w+)$/);
    if (!match) return new Response("POST /rpc/<method>", { status: 404 });
    const args = request.method === "POST" ? await request.json() : [];
    try {
      const result = await env.IMAGE[match[1]](...args);
      return Response.json({ returned: result === undefined ? null : result });
    } catch (error) {
      return Response.json({ thrown: String(error && error.stack || error) }, { status: 500 });
    }
  },
};
