// Answers with who served the request: the node, the actor and the config version it ran under.
export default {
  fetch(request, ctx) {
    return Response.json({
      user: request.headers.get('x-user'),
      node: ctx.node,
      actor: ctx.actorId,
      configVersion: ctx.configVersion,
      greeting: ctx.config.greeting ?? 'hello',
    });
  },
};
