// Self-play of Walton-Rivers et al.'s rule-based Hanabi agents in their own
// framework (fossgalaxy/hanabi), for benchmarks/hanabi_bots.py --original.
// Compiled against a checkout's sources by benchmarks/fossgalaxy.py; nothing of
// the checkout is kept here.
//
// Usage: OriginalBotsSelfPlay <agent> <players> <games> <first seed> <kept|zero> [trace]
//
// Prints one line per game, "score <seed> <score> <lives> <moves> <disqualified>".
// "kept" is the framework's default scoring (the fireworks stand when the lives
// run out); "zero" is its zero-life variant, the rule of HLE. With "trace" each
// game's record comes first, one line per event:
//   game <seed>
//   draw <player> <slot> <color> <rank>       (a card dealt or drawn; 0-based
//                                              color in the framework's order,
//                                              1-based rank)
//   play <player> <slot> | discard <player> <slot>
//   color <player> <target> <color> | rank <player> <target> <rank>
// Slots are the framework's positions: a drawn card takes the place of the
// card it replaces.

import com.fossgalaxy.games.fireworks.GameRunner;
import com.fossgalaxy.games.fireworks.GameStats;
import com.fossgalaxy.games.fireworks.ai.Agent;
import com.fossgalaxy.games.fireworks.ai.AgentPlayer;
import com.fossgalaxy.games.fireworks.ai.iggi.IGGIFactory;
import com.fossgalaxy.games.fireworks.ai.osawa.OsawaFactory;
import com.fossgalaxy.games.fireworks.ai.vanDenBergh.VanDenBerghFactory;
import com.fossgalaxy.games.fireworks.state.actions.Action;
import com.fossgalaxy.games.fireworks.state.actions.DiscardCard;
import com.fossgalaxy.games.fireworks.state.actions.PlayCard;
import com.fossgalaxy.games.fireworks.state.actions.TellColour;
import com.fossgalaxy.games.fireworks.state.actions.TellValue;
import com.fossgalaxy.games.fireworks.state.events.CardDrawn;
import com.fossgalaxy.games.fireworks.state.events.GameEvent;
import java.util.Collection;

public final class OriginalBotsSelfPlay {
    private OriginalBotsSelfPlay() {}

    static Agent build(String name) {
        switch (name) {
            case "iggi": return IGGIFactory.buildIGGIPlayer();
            case "piers": return IGGIFactory.buildPiersPlayer();
            case "outer": return OsawaFactory.buildOuterState();
            case "van_den_bergh": return VanDenBerghFactory.buildAgent();
            default: throw new IllegalArgumentException("unknown agent " + name);
        }
    }

    /** A game runner that writes every move and every card drawn. */
    static final class TracingRunner extends GameRunner {
        private final StringBuilder out;

        TracingRunner(String id, int players, boolean zero, StringBuilder out) {
            super(id, players, zero);
            this.out = out;
        }

        @Override
        protected void notifyAction(int actor, Action action, Collection<GameEvent> events) {
            if (action instanceof PlayCard) {
                out.append("play ").append(actor).append(' ').append(((PlayCard) action).slot);
            } else if (action instanceof DiscardCard) {
                out.append("discard ").append(actor).append(' ')
                   .append(((DiscardCard) action).slot);
            } else if (action instanceof TellColour) {
                TellColour tell = (TellColour) action;
                out.append("color ").append(actor).append(' ').append(tell.player).append(' ')
                   .append(tell.colour.ordinal());
            } else if (action instanceof TellValue) {
                TellValue tell = (TellValue) action;
                out.append("rank ").append(actor).append(' ').append(tell.player).append(' ')
                   .append(tell.value);
            } else if (action != null) {
                throw new IllegalStateException("an action of no known kind: " + action);
            }
            if (action != null) {
                out.append('\n');
            }
            for (GameEvent event : events) {
                if (event instanceof CardDrawn) {
                    CardDrawn drawn = (CardDrawn) event;
                    out.append("draw ").append(drawn.getPlayerId()).append(' ')
                       .append(drawn.getSlotId()).append(' ')
                       .append(drawn.getCardColour().ordinal()).append(' ')
                       .append(drawn.getCardValue()).append('\n');
                }
            }
            super.notifyAction(actor, action, events);
        }
    }

    public static void main(String[] args) {
        boolean ok = (args.length == 5 || (args.length == 6 && args[5].equals("trace")))
            && (args[4].equals("kept") || args[4].equals("zero"));
        if (!ok) {
            System.err.println("usage: OriginalBotsSelfPlay <agent> <players> <games> "
                + "<first seed> <kept|zero> [trace]");
            System.exit(2);
        }
        String name = args[0];
        int players = Integer.parseInt(args[1]);
        int games = Integer.parseInt(args[2]);
        long first = Long.parseLong(args[3]);
        boolean zero = args[4].equals("zero");
        boolean trace = args.length == 6;
        StringBuilder out = new StringBuilder();
        for (int game = 0; game < games; game++) {
            long seed = first + game;
            if (trace) {
                out.append("game ").append(seed).append('\n');
            }
            GameRunner runner = trace
                ? new TracingRunner("g" + seed, players, zero, out)
                : new GameRunner("g" + seed, players, zero);
            for (int seat = 0; seat < players; seat++) {
                runner.addPlayer(new AgentPlayer(name, build(name)));
            }
            GameStats stats = runner.playGame(seed);
            out.append("score ").append(seed).append(' ').append(stats.score).append(' ')
               .append(stats.lives).append(' ').append(stats.moves).append(' ')
               .append(stats.disqal).append('\n');
        }
        System.out.print(out);
    }
}
